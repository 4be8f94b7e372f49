"""Checkbox write-back: byte-exact, atomic, never clobbering, and what a run ticks."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import md
from helpers import (
    MARK,
    MIXED,
    _write,
    block,
    counts,
    linux_only,
    ran,
    wait_running,
    write_md,
    write_tasks,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.events import EventKind, EventRecorder, RunStatus
from taskexec_nb.run.writeback import (
    CheckboxWriter,
    digest,
    line_index,
    line_span,
    only_ticked,
    tick,
)
from taskexec_nb.store import StateStore

GATED = f"""## Phase 1: Setup

- [ ] T001 Always works
{MARK}- [ ] T002 Needs the gate
{block("test -f gate", 'touch "ran/$TASKEXEC_TASK_ID"')}- [ ] T003 After T002 (depends on T002)
{MARK}"""


@linux_only
def test_resuming_with_the_same_plan_ticks_after_its_own_earlier_ticks(tmp_path: Path) -> None:
    path = write_md(tmp_path, GATED)
    (tmp_path / "ran").mkdir()
    plan = taskexec_nb.load(path, mode="explicit")
    first = plan.run(state_dir=tmp_path / "state")
    assert first.result is RunStatus.FAILED
    text = path.read_text()
    assert "[X] T001" in text and "[ ] T002" in text
    (tmp_path / "gate").touch()
    second = plan.run(state_dir=tmp_path / "state", resume=first.run_id)
    assert second.result is RunStatus.COMPLETED
    assert second.notices == []
    assert path.read_text() == GATED.replace("[ ]", "[X]")
    assert ran(tmp_path) == {"T001", "T002", "T003"}


@linux_only
def test_a_box_not_ticked_because_the_file_changed_is_in_the_notices(tmp_path: Path) -> None:
    edit = block('echo "<!-- edited while running -->" >> tasks.md')
    path = write_md(tmp_path, f"- [ ] T001 Edits its own tasks.md\n{edit}")
    handle = taskexec_nb.load(path).run(state_dir=tmp_path / "state")
    assert handle.result is RunStatus.COMPLETED
    assert any("changed on disk" in n and "T001" in n for n in handle.notices), handle.notices
    assert "[ ] T001" in path.read_text()  # nothing clobbered


def test_heading_tasks_get_a_notice_that_they_are_not_ticked(tmp_path: Path) -> None:
    text = "## Phase 1: X\n\n### T001 — A heading task\n\n  - taskexec: run=true\n"
    path = write_tasks(tmp_path, text)
    handle = taskexec_nb.load(path).run()
    assert handle.result.value == "completed"
    assert any("T001: written as headings, not checkboxes" in n for n in handle.notices)
    assert path.read_text() == text
    quiet = taskexec_nb.load(path).run(writeback=False)
    assert not any("headings" in n for n in quiet.notices)


def test_table_row_tasks_are_named_as_table_rows_in_that_notice(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "heading_and_table_tasks.md"
    path = write_tasks(tmp_path, fixture.read_text())
    handle = taskexec_nb.load(path).run(no_action="skip")
    notes = [n for n in handle.notices if "not checkboxes" in n]
    assert len(notes) == 1
    assert notes[0].startswith(
        "T001, T002, T003, T004: written as headings and table rows, not checkboxes"
    )
    tables = taskexec_nb.load(path).run(no_action="skip", only=["T004"])
    assert any(n.startswith("T004: written as table rows, not") for n in tables.notices)


def test_a_second_run_of_one_plan_does_not_rerun_what_the_first_ticked(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    plan = taskexec_nb.load(path)
    first = plan.run(max_workers=1)
    assert counts(tmp_path) == ["T001", "T002"]
    frame = plan.to_frame()
    assert frame.loc["T001", "status"] == "done" and frame.loc["T003", "status"] == "pending"
    (tmp_path / "fixed").touch()
    second = plan.run(max_workers=1)
    assert second.run_id != first.run_id
    assert second.selection == ["T003", "T004"]
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert plan.to_run == ()
    assert not any("nothing to run" in n for n in first.notices + second.notices)
    third = plan.run(max_workers=1)
    assert third.selection == [] and counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert f"nothing to run in {path}: the selected tasks are done (ticked)" in third.notices[0]


def test_ticking_through_a_symlink_changes_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = write_tasks(
        tmp_path / "real", "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true\n"
    )
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert main(["run", str(link)]) == 0
    assert link.is_symlink()
    assert "- [X] T001" in target.read_text()


def test_a_completed_heading_task_is_done_for_its_plan(tmp_path: Path) -> None:
    text = '## Phase 1: X\n\n### T001 — A heading task\n\n  - taskexec: run="echo x >> h.txt"\n'
    plan = taskexec_nb.load(write_tasks(tmp_path, text))
    first = plan.run()
    assert any("a new run of the file (not a resume) runs them again" in n for n in first.notices)
    assert plan.run().selection == []
    assert (tmp_path / "h.txt").read_text() == "x\n"
    assert plan.to_frame().loc["T001", "status"] == "done"


_EOL = re.compile(rb"\r\n|\r|\n")


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(start offset, content) of each line, LF, CRLF and lone CR all ending a line."""
    out, start = [], 0
    for m in _EOL.finditer(data):
        out.append((start, data[start : m.start()]))
        start = m.end()
    out.append((start, data[start:]))
    return out


def _box_of(data: bytes, task_id: str) -> tuple[int, int]:
    """(1-based line, offset of the space in the box) of the line whose box holds task_id."""
    found = [
        (number, start + content.index(b"[ ]") + 1)
        for number, (start, content) in enumerate(_lines(data), 1)
        if b"[ ]" in content and re.search(rb"\[ \][ \t]+\**" + task_id.encode() + rb"\b", content)
    ]
    assert len(found) == 1, f"{task_id} has {len(found)} box lines in {data!r}"
    return found[0]


def _diff(a: bytes, b: bytes) -> list[int]:
    assert len(a) == len(b), "tick must not change the file's length"
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


LF = b"# Tasks\n\n## Phase 1\n\n- [ ] T001 First\n- [ ] T002 Second\n\nText after.\n"


TICK_CASES = {
    "lf": (LF, "T002"),
    "lf-first": (LF, "T001"),
    "crlf": (LF.replace(b"\n", b"\r\n"), "T002"),
    "crlf-first": (LF.replace(b"\n", b"\r\n"), "T001"),
    "lone-cr": (LF.replace(b"\n", b"\r"), "T002"),
    "mixed-endings": (b"# T\r\n\r- [ ] T001 a\n- [ ] T002 b\r\n- [ ] T003 c\r", "T003"),
    "bom": (b"\xef\xbb\xbf" + LF, "T001"),
    "tabs": (b"# T\n\t- [ ]\tT003\tTab\tseparated\n-\t[ ] T004 tab after dash\n", "T003"),
    "tab-after-dash": (b"# T\n\t- [ ]\tT003\tTab\tseparated\n-\t[ ] T004 tab after dash\n", "T004"),
    "cjk": (
        "# 任务\n\n- [ ] T001 写入配置文件 設定を書く\n- [ ] T002 다음 작업\n".encode(),
        "T002",
    ),
    "cjk-same-line": ("# 任务\n\n- [ ] T001 写入配置文件 設定を書く\n".encode(), "T001"),
    "trailing-spaces": (b"# T\n- [ ] T005 trailing   \n- [ ] T006 x  \t\n", "T005"),
    "no-final-newline": (b"# T\n- [ ] T005 a\n- [ ] T006 last line", "T006"),
    "no-final-newline-crlf": (b"# T\r\n- [ ] T005 a\r\n- [ ] T006 last line", "T006"),
    "star": (b"* [ ] T001 star\n* [ ] T002 star\n", "T002"),
    "plus": (b"+ [ ] T001 plus\n+ [ ] T002 plus\n", "T001"),
    "numbered-dot": (b"1. [ ] T001 one\n2. [ ] T002 two\n", "T002"),
    "numbered-paren": (b"1) [ ] T001 one\n10) [ ] T002 ten\n", "T002"),
    "bold-id": (b"- [ ] **T007** bold id\n- [ ] **T008** [P] bold\n", "T008"),
    "nested-child": (b"- [ ] T001 parent\n  - [ ] T002 child\n    - [ ] T003 grandchild\n", "T002"),
    "nested-grandchild": (
        b"- [ ] T001 parent\n  - [ ] T002 child\n    - [ ] T003 grandchild\n",
        "T003",
    ),
    "nested-parent": (b"- [ ] T001 parent\n  - [ ] T002 child\n", "T001"),
    "blockquote": (b"> - [ ] T001 quoted\n", "T001"),
    "suffixed-id": (b"- [ ] T083 guide\n- [ ] T083-B screenshots\n", "T083-B"),
}


@pytest.mark.parametrize("name", list(TICK_CASES))
def test_tick_changes_exactly_the_one_space_in_the_box(name: str) -> None:
    data, task_id = TICK_CASES[name]
    line, pos = _box_of(data, task_id)
    new = tick(data, line, task_id)
    assert new is not None
    assert _diff(data, new) == [pos]
    assert data[pos : pos + 1] == b" " and new[pos : pos + 1] == b"X"
    assert new[pos - 1 : pos + 2] == b"[X]"
    # Ticking again is a no-op that returns the same bytes.
    assert tick(new, line, task_id) == new


def test_tick_with_a_bom_and_the_task_on_line_one() -> None:
    # A file that starts with its first task right after the BOM: the parser sees T001 on
    # line 1, so write-back must be able to tick it there.
    data = b"\xef\xbb\xbf- [ ] T001 first\n- [ ] T002 second\n"
    assert [(t.id, t.line) for t in taskexec_nb.loads(data.decode("utf-8")).tasks] == [
        ("T001", 1),
        ("T002", 2),
    ]
    new = tick(data, 1, "T001")
    assert new == b"\xef\xbb\xbf- [X] T001 first\n- [ ] T002 second\n"


@pytest.mark.parametrize("box", [b"[x]", b"[X]"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_tick_leaves_an_already_ticked_box_identical(box: bytes, eol: bytes) -> None:
    data = eol.join([b"# T", b"- " + box + b" T001 done", b"- [ ] T002 open", b""])
    assert tick(data, 2, "T001") == data


NOT_THE_BOX = {
    "another-task": (b"- [ ] T001 a\n- [ ] T002 b\n", 1, "T002"),
    "heading": (b"# T001 heading\n- [ ] T001 a\n", 1, "T001"),
    "prose": (b"T001 is described here\n- [ ] T001 a\n", 1, "T001"),
    "no-list-marker": (b"[ ] T001 not a list item\n", 1, "T001"),
    "blank-line": (b"\n- [ ] T001 a\n", 1, "T001"),
    "past-the-end": (b"- [ ] T001 a\n", 5, "T001"),
    "past-the-end-no-newline": (b"- [ ] T001 a", 2, "T001"),
    "longer-id": (b"- [ ] T0010 a\n", 1, "T001"),
    "id-mentioned-by-another-task": (b"- [ ] T002 b (depends on T001)\n", 1, "T001"),
    "suffixed-sibling": (b"- [ ] T083-B screenshots\n", 1, "T083"),
}


@pytest.mark.parametrize("name", list(NOT_THE_BOX))
def test_tick_returns_none_when_the_line_does_not_hold_the_box(name: str) -> None:
    data, line, task_id = NOT_THE_BOX[name]
    assert tick(data, line, task_id) is None


BOX_PLACES = {
    "table-first-cell": (b"| Done | ID |\n|---|---|\n| [ ] | T004 | Write |\n", 3, "T004"),
    "table-no-leading-pipe": (b"Done | ID\n--- | ---\n[ ] | T004 | Write\n", 3, "T004"),
    "table-box-in-id-cell": (b"| ID | Task |\n|---|---|\n| [ ] T004 | Write |\n", 3, "T004"),
    "heading": (b"# T\n\n### [ ] T005 Title\r\n", 3, "T005"),
    "bold-heading-id": (b"## [ ] **T005**: Title\n", 1, "T005"),
    "in-progress": (b"- [/] **T4.2**: Write the memory backend\n", 1, "T4.2"),
    "in-progress-row": (b"| [/] | T004 | Write |\n", 1, "T004"),
    "table-status-cell": (
        b"| ID | Task | Done |\n|---|---|---|\n| T004 | Write | [ ] |\n",
        3,
        "T004",
    ),
    "status-cell-no-end-pipe": (b"| ID | Estado\r\n|---|---\r\n| T004 |  [ ]\r\n", 3, "T004"),
}


@pytest.mark.parametrize("name", list(BOX_PLACES))
def test_tick_a_box_in_a_table_row_or_a_heading(name: str) -> None:
    data, line, task_id = BOX_PLACES[name]
    new = tick(data, line, task_id)
    assert new is not None
    pos = data.index(b"[") + 1
    assert _diff(data, new) == [pos] and new[pos : pos + 1] == b"X"
    assert only_ticked(data, new)
    # Another task named in the row is not this box's task.
    assert tick(data, line, "T001") is None


BODY = b"### T001: Title\r\n- [ ] **Description**: Extend T003's reader\r\n- [ ] T002 own box\r\n"


def test_tick_the_box_in_a_heading_tasks_body() -> None:
    new = tick(BODY, 2, "T001", task_line=1)
    assert new is not None
    pos = BODY.index(b"[ ]") + 1
    assert _diff(BODY, new) == [pos] and new[pos : pos + 1] == b"X"
    assert tick(new, 2, "T001", task_line=1) == new  # already ticked


@pytest.mark.parametrize(
    ("line", "task_id", "task_line"),
    [
        (2, "T001", None),  # no heading given: the box line alone does not name T001
        (2, "T009", 1),  # the heading names another task
        (3, "T001", 1),  # the box of another task (T002)
        (2, "T001", 3),  # the line given as the heading is not a heading
        (2, "T001", 9),  # past the end
    ],
)
def test_a_body_box_is_ticked_only_under_its_tasks_heading(
    line: int, task_id: str, task_line: int | None
) -> None:
    assert tick(BODY, line, task_id, task_line) is None


def test_line_span_counts_lf_crlf_and_cr() -> None:
    data = b"a\r\nbb\rccc\nd"
    spans = [line_span(data, n) for n in (1, 2, 3, 4)]
    assert spans == [(0, 1), (3, 5), (6, 9), (10, 11)]
    assert line_span(data, 5) is None


@pytest.mark.parametrize("mode", [0o640, 0o755, 0o600])
def test_writer_replaces_atomically_and_keeps_the_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\r\n- [ ] T001 a\r\n- [ ] T002 b\r\n"
    path.write_bytes(data)
    path.chmod(mode)
    inode = path.stat().st_ino
    writer = CheckboxWriter(path, digest(data))
    assert writer.tick("T002", 3) is None
    assert path.read_bytes() == b"# T\r\n- [ ] T001 a\r\n- [X] T002 b\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.stat().st_ino != inode  # replaced, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]  # no temp file left


def test_writer_refuses_a_file_changed_since_load(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n- [ ] T002 b\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data))
    edited = data + b"- [ ] T003 added by someone else\n"
    path.write_bytes(edited)
    message = writer.tick("T001", 2)
    assert message is not None
    assert str(path) in message and "T001" in message
    assert "changed on disk" in message
    assert path.read_bytes() == edited
    # Still refused later: the writer does not adopt someone else's content.
    assert writer.tick("T002", 3) is not None
    assert path.read_bytes() == edited
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


def test_writer_follows_its_own_writes(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n  - [ ] T002 nested\n- [ ] T003 c\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data))
    assert writer.tick("T001", 2) is None
    assert writer.tick("T003", 4) is None
    assert writer.tick("T003", 4) is None  # already ticked: fine, unchanged
    assert writer.tick("T002", 3) is None
    assert path.read_bytes() == b"# T\n- [X] T001 a\n  - [X] T002 nested\n- [X] T003 c\n"
    assert writer.expected == digest(path.read_bytes())
    # ...but not someone else's.
    path.write_bytes(path.read_bytes() + b"more\n")
    assert writer.tick("T001", 2) is not None


def test_writer_reports_a_wrong_line_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data))
    message = writer.tick("T001", 1)
    assert message is not None and "T001" in message and str(path) in message
    assert path.read_bytes() == data
    path.unlink()
    message = writer.tick("T001", 2)
    assert message is not None and "T001" in message and str(path) in message
    assert not path.exists()


def _ticked(data: bytes, *task_ids: str) -> bytes:
    for task_id in task_ids:
        line, _ = _box_of(data, task_id)
        new = tick(data, line, task_id)
        assert new is not None
        data = new
    return data


def test_run_ticks_only_completed_tasks(tmp_path: Path) -> None:
    path = _write(tmp_path)
    before = path.read_bytes()
    handle = taskexec_nb.load(path).run(max_workers=2, kill_grace=0.5)
    assert handle.result is RunStatus.FAILED
    assert {r["id"]: r["status"] for r in handle.snapshot()} == {
        "T001": "completed",
        "T002": "failed",
        "T003": "completed",
    }
    after = path.read_bytes()
    assert after == _ticked(before, "T001", "T003")
    assert b"- [ ] T002 [P] Fail on purpose" in after
    # The next load only has the failed task left to run.
    assert taskexec_nb.load(path).to_run == ("T002",)


@pytest.mark.parametrize(
    "variant", ["lf", "crlf", "cr", "bom", "bom-task-on-line-1", "trailing-no-final-newline"]
)
def test_run_write_back_keeps_every_other_byte(tmp_path: Path, variant: str) -> None:
    base = (
        "## Phase 1: Setup 設定\n\n"
        '- [ ] T001 First 第一  \n  - taskexec: run="echo T001 >> effects.log"\n'
        "- [ ] T002 Second\n  ```bash\n  echo T002 >> effects.log\n  ```\n"
        '* [ ] **T003** Third\n  - taskexec: run="echo T003 >> effects.log"'
    )
    text = {
        "lf": "# Tasks\n\n" + base + "\n",
        "crlf": ("# Tasks\n\n" + base + "\n").replace("\n", "\r\n"),
        "cr": ("# Tasks\n\n" + base + "\n").replace("\n", "\r"),
        "bom": "\ufeff# Tasks\n\n" + base + "\n",
        "bom-task-on-line-1": "\ufeff" + base[base.index("- [ ] T001") :] + "\n",
        "trailing-no-final-newline": "# Tasks\t \n\n" + base,
    }[variant]
    path = _write(tmp_path, text)
    before = path.read_bytes()
    recorder = EventRecorder()
    handle = taskexec_nb.load(path).run(max_workers=1, observers=[recorder])
    assert handle.result is RunStatus.COMPLETED
    assert (tmp_path / "effects.log").read_text() == "T001\nT002\nT003\n"
    notices = [e.data for e in recorder.events if e.kind is EventKind.NOTICE]
    assert notices == []
    assert path.read_bytes() == _ticked(before, "T001", "T002", "T003")


THREE_OK = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 One
      - taskexec: run="echo T001 >> effects.log"
    - [ ] T002 Two
      - taskexec: run="echo T002 >> effects.log"
    - [ ] T003 Three
      - taskexec: run="echo T003 >> effects.log"
    """
)


@pytest.mark.parametrize("mode", [0o444, 0o044, 0o555], ids=["r--r--r--", "---r--r--", "r-xr-xr-x"])
def test_read_only_tasks_file_is_not_ticked_and_the_run_says_why_once(
    tmp_path: Path, mode: int
) -> None:
    # The permission bits decide, for root as well (who could write the file anyway).
    path = _write(tmp_path, THREE_OK)
    before = path.read_bytes()
    path.chmod(mode)
    inode = path.stat().st_ino
    recorder = EventRecorder()
    handle = taskexec_nb.load(path).run(max_workers=1, observers=[recorder])
    assert handle.result is RunStatus.COMPLETED
    assert (tmp_path / "effects.log").read_text() == "T001\nT002\nT003\n"
    assert path.read_bytes() == before
    assert path.stat().st_ino == inode and stat.S_IMODE(path.stat().st_mode) == mode
    assert not [e for e in recorder.events if e.kind is EventKind.TASK_TICKED]
    notices = [str(e.data["warning"]) for e in recorder.events if e.kind is EventKind.NOTICE]
    first, last = notices  # one reason, when the first box is left; one list at the end
    assert first.startswith(f"{path} is read-only (mode ")
    assert "T001" in first and "chmod u+w" in first
    assert last == (
        f"{path} is read-only: 3 completed task(s) were not ticked: T001, T002, T003 "
        "(their results are in the state store)"
    )
    assert handle.notices[-2:] == [first, last]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to be a user without the right to write another's file",
)
def test_someone_elses_read_only_tasks_file_names_its_owner_not_chmod(tmp_path: Path) -> None:
    # Root without the capabilities that let it write and chmod any file: a user's view.
    path = _write(tmp_path, THREE_OK)
    tmp_path.chmod(0o777)  # the folder (and its .taskexec) may be written; the file not
    os.chown(path, 65534, 65534)
    path.chmod(0o644)
    drop = "-dac_override,-dac_read_search,-fowner,-chown"
    done = subprocess.run(
        [
            *("setpriv", f"--bounding-set={drop}", "--inh-caps=-all"),
            *(sys.executable, "-m", "taskexec_nb.cli", "run", str(path)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[X]" not in path.read_text() and path.stat().st_uid == 65534
    lines = (done.stdout + done.stderr).splitlines()
    why = next(line for line in lines if "is read-only (mode" in line)
    assert "no write permission for you" in why
    assert "it belongs to " in why and "(uid 65534): to have them ticked, its owner" in why
    assert "make it writable (chmod u+w)" not in why


def test_read_only_rule_follows_the_permission_bits(tmp_path: Path) -> None:
    from taskexec_nb.run.writeback import read_only

    path = _write(tmp_path, THREE_OK)
    path.chmod(0o644)
    assert read_only(path) is None
    path.chmod(0o464)  # you own it and its owner's w bit is off: read-only, even for root
    reason = read_only(path)
    assert reason is not None and "mode r--rw-r--" in reason
    assert read_only(tmp_path / "missing.md") is None  # reading it says what is wrong


def test_hard_linked_tasks_file_is_ticked_in_place(tmp_path: Path) -> None:
    path = _write(tmp_path, THREE_OK)
    other = tmp_path / "linked-tasks.md"
    os.link(path, other)
    before = path.read_bytes()
    inode = path.stat().st_ino
    handle = taskexec_nb.load(path).run(max_workers=2)
    assert handle.result is RunStatus.COMPLETED
    assert path.read_bytes() == _ticked(before, "T001", "T002", "T003")
    # Same file: the other link sees the ticks, the inode and the link count are kept.
    assert other.read_bytes() == path.read_bytes()
    assert path.stat().st_ino == inode == other.stat().st_ino
    assert path.stat().st_nlink == 2
    assert not list(tmp_path.glob(".tasks.md.*.tmp"))


def test_hard_linked_tasks_file_edited_during_the_tick_keeps_the_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.run import writeback

    path = _write(tmp_path, THREE_OK)
    os.link(path, tmp_path / "linked-tasks.md")
    plan = taskexec_nb.load(path)
    real_same = writeback._same

    def edit_meanwhile(at: Path, data: bytes) -> bool:
        # An edit of the same length saved just before the last check (a race).
        with open(path, "r+b") as f:
            edited = f.read().replace(b"T002 Two", b"T002 Owt")
            f.seek(0)
            f.write(edited)
        monkeypatch.setattr(writeback, "_same", real_same)
        return real_same(at, data)

    monkeypatch.setattr(writeback, "_same", edit_meanwhile)
    writer = CheckboxWriter(path, plan.file_digest, plan.file_data)
    message = writer.tick("T001", plan["T001"].line)
    assert message is not None and "changed on disk while T001 was being ticked" in message
    assert path.read_bytes() == plan.file_data.replace(b"T002 Two", b"T002 Owt")


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_run_ticks_boxes_in_table_rows_and_headings_and_skips_the_done_ones(
    tmp_path: Path, eol: str
) -> None:
    fixture = Path(__file__).parent / "fixtures" / "boxed_rows_and_headings.md"
    text = fixture.read_text(encoding="utf-8").replace("\n", eol)
    path = _write(tmp_path, text)
    agent = ["sh", "-c", "echo {id} >> effects.log"]
    handle = taskexec_nb.load(path).run(max_workers=1, no_action="agent", agent_command=agent)
    assert handle.result is RunStatus.COMPLETED
    # Only the open boxes ran: a ticked row or heading is finished work.
    assert (tmp_path / "effects.log").read_text() == "T006\nT008\n"
    want = text.replace("| [ ] | T006 |", "| [X] | T006 |").replace("### [ ] T008", "### [X] T008")
    assert path.read_bytes() == want.encode()
    assert not any("not checkboxes" in n for n in handle.notices)
    assert taskexec_nb.load(path).to_run == ()


def test_run_ticks_a_heading_tasks_box_in_its_body(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "heading_body_box.md"
    text = fixture.read_text(encoding="utf-8")
    path = _write(tmp_path, text)
    agent = ["sh", "-c", "echo {id} >> effects.log"]
    handle = taskexec_nb.load(path).run(max_workers=1, no_action="agent", agent_command=agent)
    assert handle.result is RunStatus.COMPLETED
    assert (tmp_path / "effects.log").read_text() == "T002\nT003\n"  # T001 is done
    want = text.replace("- [ ] **Description**: Write rows", "- [X] **Description**: Write rows")
    assert path.read_bytes() == want.encode()
    # T003's items are steps, not its box: it is the only one with nothing to tick.
    notes = [n for n in handle.notices if "not checkboxes" in n]
    assert len(notes) == 1 and notes[0].startswith("T003: written as headings")


def test_run_ticks_an_in_progress_box_and_names_p_in_the_box_place_as_unticked(
    tmp_path: Path,
) -> None:
    fixture = Path(__file__).parent / "fixtures" / "box_symbols.md"
    text = fixture.read_text(encoding="utf-8")
    path = _write(tmp_path, text)
    agent = ["sh", "-c", "echo {id} >> effects.log"]
    handle = taskexec_nb.load(path).run(max_workers=1, no_action="agent", agent_command=agent)
    assert handle.result is RunStatus.COMPLETED
    ran = (tmp_path / "effects.log").read_text().split()
    assert sorted(ran) == ["T4.2", "T4.3", "T4.4", "T4.7"]  # not done, not cancelled
    want = text.replace("- [/] **T4.2**", "- [X] **T4.2**").replace(
        "- [ ] **T4.7**", "- [X] **T4.7**"
    )
    assert path.read_bytes() == want.encode()
    notes = [n for n in handle.notices if "nothing is ticked" in n]
    assert len(notes) == 1
    assert notes[0].startswith("T4.3, T4.4: written as list items with [P] in the box's place")


def test_run_ticks_the_checkbox_of_a_task_defined_first_as_a_heading(tmp_path: Path) -> None:
    text = (
        "# Tasks\n\n## Details\n\n### T001 — Build the store\n\n- taskexec: run=true\n\n"
        "## Checklist\n\n- [ ] T001 Build the store\n"
    )
    path = _write(tmp_path, text)
    handle = taskexec_nb.load(path).run()
    assert handle.result is RunStatus.COMPLETED
    assert path.read_text() == text.replace("- [ ] T001", "- [X] T001")
    assert not any("nothing is ticked" in n for n in handle.notices)


def test_run_without_writeback_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED.replace("\n", "\r\n"))
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    handle = taskexec_nb.load(path).run(max_workers=2, writeback=False)
    assert handle.result is RunStatus.FAILED
    assert (tmp_path / "effects.log").read_text().split() == ["T001", "T003"]
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime


def test_run_does_not_clobber_a_file_edited_after_load(tmp_path: Path) -> None:
    path = _write(tmp_path)
    plan = taskexec_nb.load(path)
    edited = path.read_bytes() + b"\n- a note someone else added while the plan was loaded\n"
    path.write_bytes(edited)
    recorder = EventRecorder()
    handle = plan.run(max_workers=2, observers=[recorder])
    assert handle.result is RunStatus.FAILED
    assert {r["id"]: r["status"] for r in handle.snapshot()}["T001"] == "completed"
    assert path.read_bytes() == edited
    notices = [e for e in recorder.events if e.kind is EventKind.NOTICE]
    # The first box left unticked is told at once; the run's end sums up all of them
    # (every later tick fails the same way: one notice each would only repeat it).
    first, summary = notices
    assert first.task_id in {"T001", "T003"}
    text = str(first.data["warning"])
    assert str(path) in text and first.task_id in text and "changed on disk" in text
    assert summary.task_id is None
    text = str(summary.data["warning"])
    assert text.startswith(f"{path} changed on disk during the run: 2 completed task(s) were")
    assert "T001" in text and "T003" in text and "T002" not in text  # T002 failed
    assert handle.notices[-2:] == [first.data["warning"], summary.data["warning"]]
    # The notices are part of the run's record too.
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        stored = [e for e in store.events(handle.run_id) if e.kind == "notice"]
    assert [e.task_id for e in stored] == [first.task_id, None]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (b"- [ ] T001 a\r\n- [ ] T002 b\r\n", b"- [X] T001 a\r\n- [x] T002 b\r\n", True),
        (b"> * [ ] T001 a\n", b"> * [X] T001 a\n", True),
        (b"- [ ] T001 a\n", b"- [ ] T001 a\n", True),
        (b"- [X] T001 a\n", b"- [ ] T001 a\n", False),  # unticked: someone's edit
        (b"- [ ] T001 a\n", b"- [X] T001 A\n", False),  # a tick and an edit
        (b"- [ ] T001 a\n", b"- [X] T001 a\nmore\n", False),
        (b"- [ ] T001 a\n", b"- [-] T001 a\n", False),
        (b"text [ ] here\n", b"text [X] here\n", False),  # not a task's box
        (b"- [ ] T001 a\n", b"- [ ] T001 a\r\n", False),  # line ending changed
        (b"- [/] T001 a\n| [ ] | T002 |\n", b"- [X] T001 a\n| [x] | T002 |\n", True),
        (b"- [x] T001 a\n", b"- [/] T001 a\n", False),  # a done box back in progress
        (b"| T002 | b | [ ] |\r\n", b"| T002 | b | [X] |\r\n", True),  # a status cell
        (b"| T002 | b | [ ] |\n", b"| T002 | c | [X] |\n", False),
        (b"| T002 | b | [~] |\n", b"| T002 | b | [X] |\n", False),
        (b"| a | b | [ ] |\n", b"| a | b | [X] |\n", False),  # no task in the row
        (b"| T002 | [ ] | [ ] |\n", b"| T002 | [X] | [ ] |\n", False),  # not the last box
    ],
)
def test_only_ticked_accepts_boxes_ticked_and_nothing_else(
    before: bytes, after: bytes, expected: bool
) -> None:
    assert only_ticked(before, after) is expected


def test_writer_ticks_on_top_of_boxes_ticked_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n- [ ] T002 b\n- [ ] T003 c\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data), data)
    path.write_bytes(b"# T\n- [ ] T001 a\n- [X] T002 b\n- [ ] T003 c\n")  # another run
    assert writer.tick("T001", 2) is None
    assert path.read_bytes() == b"# T\n- [X] T001 a\n- [X] T002 b\n- [ ] T003 c\n"
    assert writer.ticked == ["T001"] and writer.data == path.read_bytes()
    path.write_bytes(path.read_bytes() + b"edited\n")  # an edit is still a conflict
    message = writer.tick("T003", 4)
    assert message is not None and "changed on disk since it was loaded; T003" in message
    assert path.read_bytes().endswith(b"- [ ] T003 c\nedited\n")
    # Content that does not match the digest given is not trusted to compare against.
    assert CheckboxWriter(path, digest(data), b"other").data == b""


def test_writer_ticks_again_when_another_tick_lands_while_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n- [ ] T002 b\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data), data)
    real_fsync = os.fsync
    calls: list[int] = []

    def tick_meanwhile(fd: int) -> None:
        real_fsync(fd)
        if not calls:  # the first write races another run's tick of T002
            path.write_bytes(b"# T\n- [ ] T001 a\n- [X] T002 b\n")
        calls.append(fd)

    monkeypatch.setattr(os, "fsync", tick_meanwhile)
    assert writer.tick("T001", 2) is None
    assert len(calls) == 2
    assert path.read_bytes() == b"# T\n- [X] T001 a\n- [X] T002 b\n"


OVERLAP = """\
# Tasks

## Phase 1: All

- [ ] T001 [P] slow
  - taskexec: run="sleep 1"
- [ ] T002 [P] later
  - taskexec: run="true"
- [ ] T003 [P] quick
  - taskexec: run="sleep 0.2"
"""


def test_overlapping_runs_of_one_plan_tick_both_and_later_runs_still_tick(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(OVERLAP)
    plan = taskexec_nb.load(path)

    async def both() -> list[Any]:
        slow = await plan.arun(only=["T001"], state_dir=tmp_path / "a")
        quick = await plan.arun(only=["T003"], state_dir=tmp_path / "b")
        await quick.wait()  # the later run ends first and ticks first
        await slow.wait()
        return [slow, quick]

    for handle in asyncio.run(both()):
        assert handle.result.value == "completed"
        assert not [n for n in handle.notices if "changed on disk" in n], handle.notices
    later = plan.run(only=["T002"], state_dir=tmp_path / "c")
    assert not [n for n in later.notices if "changed on disk" in n], later.notices
    assert path.read_text() == OVERLAP.replace("[ ]", "[X]")


def test_overlapping_cli_runs_of_disjoint_selections_both_tick(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(OVERLAP)
    cli = [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)]
    slow = subprocess.Popen([*cli, "--only", "T001"], cwd=tmp_path, stderr=subprocess.PIPE)
    wait_running(tmp_path)  # the second run starts while T001 of the first runs
    quick = subprocess.run([*cli, "--only", "T003"], cwd=tmp_path, capture_output=True)
    _, slow_err = slow.communicate(timeout=60)
    assert quick.returncode == 0 and slow.returncode == 0, (quick.stderr, slow_err)
    assert b"changed on disk" not in quick.stderr + slow_err
    assert path.read_text() == OVERLAP.replace("- [ ] T001", "- [X] T001").replace(
        "- [ ] T003", "- [X] T003"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_a_tick_keeps_the_files_owner_and_group(tmp_path: Path) -> None:
    path = _write(tmp_path, THREE_OK)
    os.chown(path, 65534, 65534)  # someone else's file, which root may write
    path.chmod(0o664)
    handle = taskexec_nb.load(path).run()
    assert handle.result is RunStatus.COMPLETED
    assert b"- [X] T003" in path.read_bytes()
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o664)


def test_a_file_that_cannot_be_replaced_is_ticked_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder we may not write, or a file we may write but not give back to its owner:
    # as root neither can be staged for real, so the two refusals are raised as the
    # kernel would raise them.
    from taskexec_nb.run import writeback

    path = _write(tmp_path, THREE_OK)
    plan = taskexec_nb.load(path)
    inode = path.stat().st_ino

    def no_temp_file(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(writeback.tempfile, "mkstemp", no_temp_file)
    writer = CheckboxWriter(path, plan.file_digest, plan.file_data)
    assert writer.tick("T001", plan["T001"].line) is None
    monkeypatch.undo()

    def no_chown(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(writeback.os, "chown", no_chown)
    monkeypatch.setattr(writeback.os, "stat", _stat_owned_by(65534, os.stat))
    assert writer.tick("T002", plan["T002"].line) is None
    assert path.read_bytes() == _ticked(plan.file_data, "T001", "T002")
    assert path.stat().st_ino == inode
    assert not list(tmp_path.glob(".tasks.md.*.tmp"))


def _stat_owned_by(uid: int, real: Any) -> Any:
    """os.stat, except that a new temporary file reads as owned by ``uid``."""

    def fake(at: Any, *args: Any, **kwargs: Any) -> Any:
        st = real(at, *args, **kwargs)
        if str(at).endswith(".tmp"):
            return os.stat_result((st[0], st[1], st[2], st[3], uid, *st[5:]))
        return st

    return fake


def test_an_edit_saved_while_a_tick_is_written_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data))
    real_fsync = os.fsync

    def edit_meanwhile(fd: int) -> None:
        real_fsync(fd)
        with open(path, "ab") as f:
            f.write(b"- [ ] T002 added meanwhile\n")

    monkeypatch.setattr(os, "fsync", edit_meanwhile)
    message = writer.tick("T001", 2)
    assert message is not None and "changed on disk while T001" in message
    assert path.read_bytes() == data + b"- [ ] T002 added meanwhile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


@given(st.lists(st.sampled_from([b"a", b"- [ ] T001 x", b"\n", b"\r", b"\r\n", b" "]), max_size=30))
@settings(max_examples=300, deadline=None)
def test_line_index_says_what_line_span_says_of_every_line(parts: list[bytes]) -> None:
    data = b"".join(parts)
    spans = line_index(data)
    for line in range(1, data.count(b"\n") + data.count(b"\r") + 4):
        assert spans(line) == line_span(data, line), (data, line)


MANY = b"# T\r\n- [ ] T001 a\r\n- [x] T002 b\r\n- [/] T003 c\r\n| [ ] | T004 | d |\r\n- [ ] T005 e"


def test_tick_many_ticks_every_box_in_one_replace(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(MANY)
    inode = path.stat().st_ino
    writer = CheckboxWriter(path, digest(MANY), MANY)
    boxes = [("T005", 6, None), ("T001", 2, None), ("T002", 3, None), ("T003", 4, None)]
    assert writer.tick_many([*boxes, ("T004", 5, None)]) == [None] * 5
    assert path.read_bytes() == (
        b"# T\r\n- [X] T001 a\r\n- [x] T002 b\r\n- [X] T003 c\r\n| [X] | T004 | d |\r\n- [X] T005 e"
    )
    assert path.stat().st_ino != inode  # one atomic replace
    assert writer.ticked == ["T005", "T001", "T002", "T003", "T004"]
    assert writer.data == path.read_bytes() and writer.expected == digest(writer.data)
    assert writer.tick_many([]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


def test_tick_many_ticks_the_boxes_it_finds_and_says_which_it_did_not(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(MANY)
    writer = CheckboxWriter(path, digest(MANY), MANY)
    first, missing = writer.tick_many([("T001", 2, None), ("T009", 3, None)])
    assert first is None
    assert missing == f"{path}:3: no checkbox of T009 there; it was not ticked"
    assert path.read_bytes() == _ticked(MANY, "T001")
    assert writer.ticked == ["T001"] and writer.unticked == []


def test_tick_many_on_a_file_edited_meanwhile_writes_nothing_and_says_so_for_each(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(MANY)
    writer = CheckboxWriter(path, digest(MANY), MANY)
    edited = MANY + b"\r\n- [ ] T006 added by hand\r\n"
    path.write_bytes(edited)
    whys = writer.tick_many([("T001", 2, None), ("T005", 6, None)])
    assert whys == [
        f"{path} changed on disk since it was loaded; {task_id} was not ticked (nothing was "
        "overwritten): tick it by hand, or resume the run once it ends (a resume ticks the "
        "tasks it completed, without running them again)"
        for task_id in ("T001", "T005")
    ]
    assert path.read_bytes() == edited
    assert writer.unticked == ["T001", "T005"] and writer.ticked == []
    assert not writer.quiet("T001") and writer.quiet("T005")  # the first tells, the rest wait
    summary = writer.summary()
    assert summary is not None and "2 completed task(s) were not ticked: T001, T005" in summary


def test_tick_many_reports_a_file_it_cannot_read_or_write_for_every_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.run import writeback

    path = tmp_path / "tasks.md"
    path.write_bytes(MANY)
    writer = CheckboxWriter(path, digest(MANY), MANY)

    def disk_full(*args: Any, **kwargs: Any) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writeback, "_atomic_write", disk_full)  # ENOSPC cannot be staged here
    whys = writer.tick_many([("T001", 2, None), ("T009", 2, None)])
    assert whys == [
        f"{path}: cannot write to tick T001: No space left on device",
        f"{path}:2: no checkbox of T009 there; it was not ticked",
    ]
    monkeypatch.undo()
    path.unlink()
    whys = writer.tick_many([("T001", 2, None), ("T005", 6, None)])
    assert whys == [
        f"{path}: cannot read to tick {t}: No such file or directory" for t in ("T001", "T005")
    ]
    assert writer.ticked == []
