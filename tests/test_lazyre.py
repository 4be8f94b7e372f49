"""Regular expressions compiled on first use (taskexec_nb._lazyre)."""

from __future__ import annotations

import re

from taskexec_nb._lazyre import LazyPattern


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
