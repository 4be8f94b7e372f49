"""Kinds of setting values: how each reads text and what it refuses, in which words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskexec_nb.kinds import (
    Argv,
    Bound,
    Choice,
    Duration,
    Flag,
    Names,
    Number,
    OneOrMany,
    Problem,
    Scalar,
    Selector,
    Table,
    Text,
    TextError,
    Whole,
)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Whole(), "5", 5),
        (Whole(), " 5 ", 5),
        (Whole(), "5.0", 5),
        (Whole(), 5.0, 5),
        (Number(), "2.5", 2.5),
        (Number(), 2, 2.0),
        (Duration(), "5m", 300.0),
        (Duration(), 90, 90.0),
        (Argv(), "my-agent --prompt '{prompt}'", ["my-agent", "--prompt", "{prompt}"]),
        (Selector(numbers=True), True, 1),
        (Selector(numbers=True), [1, "setup"], [1, "setup"]),
        (Table(Number()), {"gpu": "1"}, {"gpu": 1.0}),
        (OneOrMany(), "T001", "T001"),
    ],
)
def test_lax_checking_reads_what_a_config_file_means(kind: Any, value: Any, expected: Any) -> None:
    checked, problems = kind.check(value)
    assert problems == [] and checked == expected


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Whole(), "four", "input should be a valid integer, unable to parse string as an integer"),
        (Whole(), 1.5, "input should be a valid integer, got a number with a fractional part"),
        (Whole(), float("inf"), "input should be a finite number"),
        (Whole(), [], "input should be a valid integer"),
        (Whole(), True, "must be a number, not true or false"),
        (Whole(minimum=1), 0, "must be >= 1"),
        (Number(), "x", "input should be a valid number, unable to parse string as a number"),
        (Number(), [1], "input should be a valid number"),
        (Number(Bound(0, strict=True)), 0, "must be > 0"),
        (Duration(Bound(0, strict=True)), "0s", "must be > 0"),
        (Flag(), 1, "input should be a valid boolean"),
        (Choice(["a", "b", "c"]), "d", "must be one of 'a', 'b' or 'c'"),
        (Choice(["a"]), "d", "must be one of 'a'"),
        (Text(), 5, "input should be a valid string"),
        (Text(nonempty=True), "", "must not be empty"),
        (Names(), "A", "input should be a valid list"),
        (OneOrMany(), 5, "must be a string or a list"),
        (Argv(), "  ", "must not be empty"),
        (Table(Number()), 5, "input should be a valid dictionary"),
        (Scalar(), [1], "must be a string, a whole number, a number or true or false"),
        (Selector(), 5, "must be a string or a list"),
        (Selector(numbers=True), 1.5, "must be a whole number, a string or a list"),
    ],
)
def test_each_refusal_says_what_is_expected(kind: Any, value: Any, message: str) -> None:
    _, problems = kind.check(value)
    assert [p.message for p in problems] == [message]


def test_a_problem_inside_a_value_has_its_key_path() -> None:
    _, problems = Table(Table(Scalar())).check({"notebook": {"kernel": [1]}})
    assert [p.loc for p in problems] == [("notebook", "kernel")]
    _, problems = Selector().check(["US1", 3])
    assert [(p.loc, p.value) for p in problems] == [((1,), 3)]
    _, problems = Argv().check(["a", 3])
    assert [(p.loc, p.message) for p in problems] == [((1,), "input should be a valid string")]


def test_a_duration_that_cannot_be_read_has_a_hint() -> None:
    _, problems = Duration().check("soon")
    assert problems[0].message == "'soon' is not a duration"
    assert problems[0].text().startswith("'soon' is not a duration: write seconds")
    _, problems = Argv().check("a 'b")
    assert problems[0].message.startswith('cannot split "a \'b" like a shell line: ')


def test_strict_checking_takes_only_the_python_type() -> None:
    assert Whole().check("5", lax=False)[1][0].plain == "must be a whole number"
    assert Number().check("1", lax=False)[1][0].plain == "must be a number"
    assert Number().check(2, lax=False) == (2, [])  # an int stays an int
    assert Duration().check("90s", lax=False) == (90.0, [])
    assert Text(path=True).check(Path("x"), lax=False)[1] == []
    assert Text().check(Path("x"), lax=False)[1][0].plain == "must be a string"
    argv = "must be a non-empty list of strings (an argv)"
    for bad in ("agent {prompt}", [], ["a", 3]):
        assert Argv().check(bad, lax=False)[1][0].plain == argv
    assert Argv().check(("a",), lax=False) == (("a",), [])
    assert Names().check(("A",), lax=False) == (("A",), [])
    assert OneOrMany().check(("A",), lax=False)[1] == []
    assert Duration(Bound(0, strict=True, unit="seconds")).check(0)[1][0].plain == (
        "must be > 0 seconds"
    )


def test_values_shown_after_a_message() -> None:
    assert Problem((), "m", True).shown() == " (got true)"
    assert Problem((), "m", "x").shown() == " (got 'x')"
    assert Problem((), "m", {"a": 1}).shown() == ""
    assert Problem((), "m", [1]).shown() == ""


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (Flag(), "yes", True),
        (Flag(), "OFF", False),
        (Flag(), "", False),
        (Names(), "A, B,,", ["A", "B"]),
        (Names(), '["A", "B"]', ["A", "B"]),
        (OneOrMany(), "T001,US1", "T001,US1"),
        (OneOrMany(), '["T001"]', ["T001"]),
        (Argv(), "a 'b c'", ["a", "b c"]),
        (Argv(), '["a", 2]', ["a", "2"]),
        (Whole(), "5", "5"),
    ],
)
def test_values_read_from_text(kind: Any, text: str, value: Any) -> None:
    assert kind.from_text(text) == value


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (Flag(), "perhaps", "expected true or false, got 'perhaps'"),
        (Names(), "[1,", "not a JSON list: "),
        (Argv(), '["a"', "not a JSON list: "),
        (Argv(), "a 'b", "No closing quotation"),
    ],
)
def test_text_that_cannot_be_read_says_why(kind: Any, text: str, message: str) -> None:
    with pytest.raises(TextError, match=message):
        kind.from_text(text)
