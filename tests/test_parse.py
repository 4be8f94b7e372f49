"""The parser on the task forms real files use: IDs, boxes in every place, re-listings."""

from __future__ import annotations

from pathlib import Path

from taskexec_nb.graph import build_graph, id_key
from taskexec_nb.parse import TaskFile, parse_file
from taskexec_nb.validate import validate_taskfile


def _clean(tf: TaskFile) -> TaskFile:
    errors = [d.format() for d in validate_taskfile(tf).diagnostics if d.is_error]
    assert errors == []
    return tf


# --- IDs with a letter suffix ------------------------------------------------------------------


def test_an_id_with_a_letter_suffix_is_its_own_task(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "suffixed_ids.md"))
    assert tf.ids == (
        "T022", "T022-A", "T039", "T039-A", "T040", "T083", "T083-B", "T084", "T085"
    )  # fmt: skip
    assert tf.task("T022").done and not tf.task("T022-A").done
    assert tf.task("T022").description == "Parse the bank export in src/import/bank.py"
    assert tf.task("T022-A").description == "Accept the second date format in src/import/bank.py"
    assert tf.task("T083-B").line == 14


def test_dependencies_name_suffixed_ids_and_ranges_stay_ranges(fixtures: Path) -> None:
    tf = parse_file(fixtures / "suffixed_ids.md")
    explicit = build_graph(tf, "explicit").explicit
    assert explicit["T040"] == ["T039", "T039-A"]
    # T083-T084 is a range (T084 is an ID, not a letter), and T083-B lies inside it.
    assert explicit["T085"] == ["T083", "T083-B", "T084"]


def test_a_suffixed_id_sorts_after_its_base_id() -> None:
    ids = ["T084", "T083-B", "T083.5", "T083", "T083a"]
    assert sorted(ids, key=id_key) == ["T083", "T083-B", "T083a", "T083.5", "T084"]
