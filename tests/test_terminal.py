"""The terminal view of a run."""

from __future__ import annotations

import io

import pytest

from taskexec_nb.cli.terminal import TerminalView
from taskexec_nb.events import Event, EventKind


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_line_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    view = TerminalView(_Tty(), total=3, rate=100)
    view(Event(EventKind.RUN_STARTED, "R1", data={"tasks": 12}))
    assert view.total == 12  # the run's own count, e.g. after a resume
    for n in range(6):
        view(Event(EventKind.TASK_STARTED, "R1", f"T{n:03d}", 1))
    line = view.status_line()
    assert len(line) == 39 and line.endswith("...")
    monkeypatch.setenv("COLUMNS", "300")
    assert not view.status_line().endswith("...")
    assert "running: T000" in view.status_line()
    view(Event(EventKind.RUN_FINISHED, "R1", status="cancelled"))


def _mixed_run(view: TerminalView) -> None:
    """Events of a run with every kind of end: ok, failed, allowed, skipped, retried, paused."""
    view(Event(EventKind.RUN_STARTED, "R1", data={"tasks": 6}))
    for task_id in ("T001", "T002", "T003", "T005", "T006"):
        view(Event(EventKind.TASK_QUEUED, "R1", task_id, status="queued"))
        view(Event(EventKind.TASK_STARTED, "R1", task_id, 1, status="running"))
    view(Event(EventKind.TASK_FINISHED, "R1", "T001", 1, status="completed"))
    view(Event(EventKind.TASK_FINISHED, "R1", "T002", 1, status="failed", data={"error": "x"}))
    view(
        Event(
            EventKind.TASK_FINISHED,
            "R1",
            "T003",
            1,
            status="failed",
            data={"error": "y", "allowed": True},
        )
    )
    view(Event(EventKind.TASK_FINISHED, "R1", "T004", status="skipped", data={"reason": "z"}))
    view(
        Event(
            EventKind.TASK_RETRYING,
            "R1",
            "T005",
            1,
            status="queued",
            data={"attempt_status": "failed", "delay": 0.0, "error": "w"},
        )
    )
    view(Event(EventKind.TASK_STARTED, "R1", "T005", 2, status="running"))
    view(Event(EventKind.TASK_FINISHED, "R1", "T005", 2, status="completed"))
    view(Event(EventKind.RUN_PAUSED, "R1", status="paused", data={"suspend": True}))
    view(Event(EventKind.RUN_RESUMED, "R1", status="running"))


def test_the_summary_counts_what_the_model_counts_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    view = TerminalView(out, total=0)
    _mixed_run(view)
    expected = view.summary(view.model.snapshot())  # drawn from the model's rows
    assert expected == "5/6 finished: 2 ok, 1 FAILED, 1 failed (allowed), 1 skipped"

    # A plain run's summary comes from the view's own counts: its model, which
    # nothing else reads, never takes the run's events in (once per event, at the end).
    view = TerminalView(out, total=0)
    _mixed_run(view)

    def unread() -> None:
        raise AssertionError("the summary read the model")

    monkeypatch.setattr(view.model, "snapshot", unread)
    assert view.summary() == expected
    view(Event(EventKind.RUN_FINISHED, "R1", status="failed"))
    assert out.getvalue().endswith(f"run R1 failed: {expected}\n")
