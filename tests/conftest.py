"""Shared fixtures: the real-world corpus and the golden fixtures folder."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

# A harness that starts pytest in the background (SIGINT ignored) would make the Ctrl-C
# tests meaningless; with Python's handler, task subprocesses get the default again.
signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_dir() -> Path:
    """The real tasks.md corpus: $TASKEXEC_CORPUS or ../shared/corpus/real."""
    env = os.environ.get("TASKEXEC_CORPUS")
    return Path(env) if env else ROOT.parent / "shared" / "corpus" / "real"


def corpus_files() -> list[Path]:
    folder = corpus_dir()
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


FENCE = "```"


def md(text: str) -> str:
    """Dedent a tasks.md snippet; ``~~~`` stands for a backtick fence."""
    return textwrap.dedent(text).replace("~~~", FENCE)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.split("\n")) if needle in line]
    assert len(hits) > nth, f"{needle!r} not in text"
    return hits[nth]


def procs() -> list[tuple[int, str, int]]:
    """(pid, state, process group) of every process, read from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out.append((int(entry), fields[0].decode(), int(fields[2])))
    return out


def group_members(pgid: int) -> list[int]:
    """Live (not zombie, not dead) processes of a process group."""
    return [pid for pid, state, pgrp in procs() if pgrp == pgid and state not in ("Z", "X")]


@pytest.fixture
def corpus() -> Path:
    folder = corpus_dir()
    if not folder.is_dir():
        pytest.skip(f"corpus folder {folder} is absent (set TASKEXEC_CORPUS)")
    return folder


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _no_taskexec_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no TASKEXEC_* settings from the machine that runs them."""
    for name in list(os.environ):
        if name.startswith("TASKEXEC_") and name != "TASKEXEC_CORPUS":
            monkeypatch.delenv(name)
