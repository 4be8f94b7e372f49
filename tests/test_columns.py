"""The columns every task table shares: the phase as number and title, indexed by task ID."""

from __future__ import annotations

import pandas as pd

from taskexec_nb._columns import by_task, set_phase, set_phase_from_labels, split_phase


def test_a_phase_label_splits_into_its_number_and_its_title() -> None:
    assert split_phase("Phase 3: User Story 1 - Things") == ("3", "User Story 1 - Things")
    assert split_phase("Phase 3.1: Part: two") == ("3.1", "Part: two")
    assert split_phase("Phase 7") == ("7", "")
    assert split_phase("Polish") == ("Polish", "Polish")  # an unnumbered phase
    assert split_phase("") == ("", "")
    assert split_phase(None) == (None, None)


def test_labels_become_an_ordered_number_and_a_title_in_the_given_order() -> None:
    frame = pd.DataFrame(
        {
            "id": ["T1", "T2", "T3", "T4"],
            "phase": ["Phase 10: Late", "Phase 9: Early", None, "Polish"],
            "phase_title": ["old", "old", "old", "old"],  # replaced, not repeated
        }
    )
    set_phase_from_labels(frame, ["Phase 9: Early", "Phase 10: Late", "Polish"])
    assert list(frame.columns) == ["id", "phase", "phase_title"]
    assert list(frame["phase"].cat.categories) == ["9", "10", "Polish"]
    assert frame["phase"].cat.ordered
    assert list(frame.sort_values("phase")["id"]) == ["T2", "T1", "T4", "T3"]  # missing last
    assert list(frame["phase_title"].fillna("-")) == ["Late", "Early", "-", "Polish"]
    assert str(frame["phase_title"].dtype) == "string"
    indexed = by_task(frame)
    assert indexed.index.name == "id" and indexed.loc["T4", "phase"] == "Polish"


def test_numbers_not_in_the_order_given_come_after_it() -> None:
    frame = pd.DataFrame({"phase": ["", "", ""]})
    set_phase(frame, ["2", "1", "3"], ["B", "A", "C"], order=["1"])
    assert list(frame["phase"].cat.categories) == ["1", "2", "3"]
