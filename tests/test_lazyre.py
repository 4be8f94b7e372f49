"""Regular expressions compiled on first use (taskexec_nb._lazyre)."""

from __future__ import annotations

import re

from taskexec_nb._lazyre import EndChecked, LazyPattern


def test_a_lazy_pattern_compiles_once_on_first_use_and_acts_as_the_pattern() -> None:
    lazy = LazyPattern(r"t(\d+)", re.IGNORECASE)
    assert lazy._compiled is None  # nothing compiled at definition
    assert lazy.pattern == r"t(\d+)"
    assert lazy.match("T12 t3").group(1) == "12"  # type: ignore[union-attr]
    compiled = lazy.compiled
    assert lazy.compiled is compiled and compiled.flags & re.IGNORECASE
    assert lazy.match("x T1", 2) is not None
    assert lazy.fullmatch("T7") is not None and lazy.fullmatch("T7 ") is None
    assert lazy.search("a t9").group(0) == "t9"  # type: ignore[union-attr]
    assert [m.group(1) for m in lazy.finditer("T1 t2 T3", 1)] == ["2", "3"]
    assert lazy.findall("T1 t2") == ["1", "2"]
    assert lazy.sub("#", "T1 and t2", count=1) == "# and t2"
    assert lazy.sub(lambda m: m.group(1), "T1 t2") == "1 2"
    assert LazyPattern(r"[;,]").split("a;b,c", maxsplit=1) == ["a", "b,c"]


def _word_ends(text: str, at: int) -> bool:
    return at >= len(text) or not (text[at].isalnum() or text[at] == "_")


def test_an_end_checked_pattern_matches_as_its_full_pattern_and_compiles_it_only_when_needed() -> (
    None
):
    checked = EndChecked(r"^(?P<n>\d+(?:\.\d+)*[a-z]?){end}\W*(?P<rest>.*)$", r"(?!\w)", _word_ends)
    full = re.compile(checked.pattern)
    assert checked.pattern == r"^(?P<n>\d+(?:\.\d+)*[a-z]?)(?!\w)\W*(?P<rest>.*)$"
    m = checked.match("12: setup")
    assert m is not None and (m.group("n"), m.group("rest")) == ("12", "setup")
    assert checked._full._compiled is None  # the check passed: the full pattern is not needed
    texts = ["1.2xy rest", "1.2x: a", "12", "1a2", "x1", "", "3_", "4.5.6b-c", "7 é", "8é"]
    for text in texts:
        ours, theirs = checked.match(text), full.match(text)
        assert (ours and (ours.span(), ours.group("n", "rest"))) == (
            theirs and (theirs.span(), theirs.group("n", "rest"))
        ), text
    assert checked._full._compiled is not None  # "1.2xy": the number backs off to "1"
    assert checked.match("x1") is None and checked.match("1.2xy", 0).group("n") == "1"  # type: ignore[union-attr]
