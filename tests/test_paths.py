"""Finding the file paths a task's description names (taskexec_nb.paths.files_in)."""

from __future__ import annotations

import pytest

from taskexec_nb.paths import files_in


def test_a_description_without_a_slash_or_a_dot_names_no_file() -> None:
    assert files_in("Write the user model and its tests") == ()


def test_backticked_paths_come_first_then_the_others_in_the_order_written() -> None:
    description = "Wire src/api/routes.py into `src/app/main.py` and docs/api.md"
    assert files_in(description) == ("src/app/main.py", "src/api/routes.py", "docs/api.md")


def test_a_path_named_twice_is_listed_once() -> None:
    assert files_in("Edit `src/cli.py`, then test src/cli.py again") == ("src/cli.py",)


@pytest.mark.parametrize(
    ("quoted", "expected"),
    [
        ("`Makefile.am`", ("Makefile.am",)),  # a name with a dot, quoted: a file
        ("`scripts/`", ("scripts/",)),  # a folder, quoted
        ("`npm run build`", ()),  # a command, not a path
        ("`https://example.org/a.py`", ()),  # a URL
        ("`v1`", ()),  # neither a slash nor a dot
    ],
)
def test_a_backticked_word_is_a_path_when_it_has_a_slash_or_an_extension(
    quoted: str, expected: tuple[str, ...]
) -> None:
    assert files_in(f"See {quoted} for this.") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Create models.py", ("models.py",)),  # a known extension
        ("Read config.settings first", ()),  # a dotted name, not a file
        ("Support iOS/Android builds", ()),  # one slash, no extension: prose
        ("Put it in src/lib/util", ("src/lib/util",)),  # two slashes
        ("Put it in build/", ("build/",)),  # a folder
        ("Add src/models/user.ts", ("src/models/user.ts",)),  # a slash and an extension
        ("Ask e.g. the team", ()),
        ("Fetch https://example.org/data.json", ()),  # a URL
        ("Fetch //cdn.example.org/lib.js", ()),  # a scheme-relative URL
    ],
)
def test_an_unquoted_word_is_a_path_only_when_it_reads_like_one(
    text: str, expected: tuple[str, ...]
) -> None:
    assert files_in(text) == expected


def test_punctuation_around_a_path_is_not_part_of_it() -> None:
    description = 'Update (src/app.py), "docs/guide.md"; and tests/test_app.py.'
    assert files_in(description) == ("src/app.py", "docs/guide.md", "tests/test_app.py")
