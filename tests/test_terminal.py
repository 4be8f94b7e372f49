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
