"""``taskexec run``, ``status`` and ``runs``: real runs through the CLI, exit codes, the view."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import md
from helpers import (
    counts,
    latest_run,
    read_until,
    spawn_cli,
    wait_pid,
    wait_running,
    wait_until,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.cli.terminal import TerminalView
from taskexec_nb.config import find_config
from taskexec_nb.events import Event, EventKind
from taskexec_nb.store import StateStore

TASKS = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 First
      ~~~bash
      echo one >> out.txt
      ~~~
    - [ ] T002 [US1] Second
      ~~~bash
      echo two >> out.txt
      ~~~
    - [ ] T003 [US2] Third
      ~~~bash
      echo three >> out.txt
      ~~~
    """
)

FAILING = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Breaks
      ~~~bash
      echo oops >&2
      exit 4
      ~~~
    - [ ] T002 After it
      ~~~bash
      echo never > never.txt
      ~~~
    """
)

SLOW = '## Phase 1: X\n\n- [ ] T001 Slow\n  - taskexec: run="echo started; sleep 30"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tasks.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_executes_ticks_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TASKS)
    assert main(["run", str(path), "-j", "1"]) == 0
    assert (tmp_path / "out.txt").read_text() == "one\ntwo\nthree\n"
    assert path.read_text().count("- [X] T") == 3
    captured = capsys.readouterr()
    assert "state:" in captured.out
    assert "3/3 finished: 3 ok" in captured.err  # plain lines: stderr is not a TTY here
    assert main(["runs", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    listing = capsys.readouterr().out
    assert "completed" in listing and "3 completed" in listing
    assert main(["status", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    status = capsys.readouterr().out
    assert "T003     completed" in status


def test_json_status_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TASKS)
    assert main(["run", str(path), "--no-writeback"]) == 0
    capsys.readouterr()
    state = str(tmp_path / ".taskexec")
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    assert main(["status", runs[0]["run_id"], "--state-dir", state, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["task_id"] for t in doc["tasks"]] == ["T001", "T002", "T003"]
    assert path.read_text() == TASKS  # --no-writeback


def test_failure_exits_1_and_shows_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FAILING)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED    T001: exit code 4" in err
    assert "| oops" in err and "log:" in err
    assert "skipped   T002: prerequisite T001 failed" in err
    assert not (tmp_path / "never.txt").exists()
    assert "- [ ] T001" in path.read_text()


def test_a_failed_run_ends_with_the_command_that_resumes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CI log shows the failure; the next step (fix, then resume) is named there too,
    # as it is for an interrupted or incomplete run.
    path = write(tmp_path, FAILING)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    run_id = str(latest_run(tmp_path)["run_id"])
    command = f"taskexec run {path} --resume {run_id}"
    assert err.splitlines()[-1].startswith(f"failed; once fixed, resume with: {command}")
    path.write_text(FAILING.replace("exit 4", "true"))
    assert main(shlex.split(command)[1:]) == 0
    assert (tmp_path / "never.txt").read_text() == "never\n"


def test_dry_run_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TASKS + "- [ ] T004 No action here\n")
    assert main(["run", str(path), "--dry-run", "--only", "T002,T004"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 2 task(s)" in out
    assert "T002     shell" in out and "T004     none -> skip" in out
    assert "T001" not in out
    assert not (tmp_path / "out.txt").exists()
    assert not (tmp_path / ".taskexec").exists()


@pytest.mark.parametrize(
    ("command", "form"),
    [
        ("my-agent --prompt {prompt}", "argv (no shell)"),
        (
            "bash -lc 'my-agent {description}'",
            "shell script via bash -lc; placeholders are shell-quoted",
        ),
    ],
)
def test_validate_and_dry_run_say_how_the_agent_command_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, form: str
) -> None:
    path = write(tmp_path, TASKS)
    argv = json.dumps(shlex.split(command))
    (tmp_path / "taskexec.toml").write_text(f"agent_command = {argv}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert f"agent command: {form}" in capsys.readouterr().out
    assert main(["validate", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["agent_command"] == form
    assert main(["run", str(path), "--dry-run", "--agent-command", command]) == 0
    assert f"agent command: {form}" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [[], ["--no-agent-context"]])
def test_the_agent_context_flag_reaches_the_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = write(tmp_path, "- [ ] T001 Write the docs\n  - taskexec: executor=agent\n")
    (tmp_path / "plan.md").write_text("# Plan\n")
    agent = tmp_path / "agent.py"
    agent.write_text("import sys; open('got.txt', 'w').write(sys.argv[1])\n")
    command = json.dumps([sys.executable, str(agent), "[{context}]"])
    assert main(["run", str(path), "--no-writeback", "--agent-command", command, *flags]) == 0
    got = (tmp_path / "got.txt").read_text()
    if flags:
        assert got == "[]"
    else:
        assert got.startswith("[Design documents") and str(tmp_path / "plan.md") in got


NOTEBOOK_JSON = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ["open('ran.txt', 'w').write('yes')"],
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


@pytest.mark.parametrize(("policy", "code"), [("skip", 3), ("fail", 1)])
def test_a_notebook_the_description_names_that_is_missing_follows_the_no_action_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, code: int
) -> None:
    path = write(tmp_path, "- [ ] T001 Create notebooks/eda.ipynb for the analysis\n")
    argv = ["run", str(path), "--no-writeback", "--no-action", policy]
    assert main(argv) == code
    err = capsys.readouterr().err
    looked = tmp_path / "notebooks" / "eda.ipynb"
    assert f"T001: notebook {looked} (named in its description) does not exist yet" in err
    assert f"T001: notebook {looked} (named in its description) does not exist, so" in err
    assert "not found" not in err
    assert main(["status", "--json", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    status = json.loads(capsys.readouterr().out)["tasks"][0]
    assert status["status"] == ("skipped" if policy == "skip" else "failed")
    assert f"no_action={policy}" in status["error"]


def test_a_notebook_an_earlier_task_creates_runs_and_an_explicit_one_fails_if_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make = "import pathlib; pathlib.Path('nb').mkdir(); pathlib.Path('nb/eda.ipynb')"
    path = write(
        tmp_path,
        "- [ ] T001 Write the notebook\n"
        "  ```python\n"
        f"  {make}.write_text({NOTEBOOK_JSON!r})\n"
        "  ```\n"
        "- [ ] T002 Run nb/eda.ipynb\n",
    )
    assert main(["run", str(path), "--no-writeback"]) == 0, capsys.readouterr().err
    assert (tmp_path / "ran.txt").read_text() == "yes"  # T002 ran the notebook T001 made
    err = capsys.readouterr().err
    assert "does not exist yet" in err  # the notice before the run: it was not there then
    assert "does not exist, so" not in err
    explicit = write(tmp_path, "- [ ] T003 Run it\n  - taskexec: notebook=nb/other.ipynb\n")
    assert main(["run", str(explicit), "--no-writeback"]) == 1
    err = capsys.readouterr().err
    assert "notebook 'nb/other.ipynb' not found" in err
    assert "named in its description" not in err


def test_selection_options(tmp_path: Path) -> None:
    path = write(tmp_path, TASKS)
    assert main(["run", str(path), "--only", "US2", "--no-writeback"]) == 0
    assert (tmp_path / "out.txt").read_text() == "three\n"
    assert main(["run", str(path), "--from", "T002", "--until", "T002", "--no-writeback"]) == 0
    assert (tmp_path / "out.txt").read_text() == "three\ntwo\n"


PREREQUISITES = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Setup
      - taskexec: run="echo setup >> out.txt"

    ## Phase 2: User Story 1

    - [ ] T002 [US1] Model (depends on T001)
      - taskexec: run="echo model >> out.txt"
    - [ ] T003 [US1] Service (depends on T001)
      - taskexec: run="echo service >> out.txt"
    """
)


def test_a_selection_without_a_pending_prerequisite_is_told_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import taskexec_nb

    path = write(tmp_path, PREREQUISITES)
    assert main(["run", str(path), "--dry-run", "--only", "T002"]) == 0
    err = capsys.readouterr().err
    assert "T002 runs without waiting for its prerequisite T001, neither selected nor done" in err
    assert "select it too, or run it first" in err

    handle = taskexec_nb.load(path).run(only=["US1"], writeback=False)
    assert (tmp_path / "out.txt").read_text() == "model\nservice\n"
    assert [n for n in handle.notices if "prerequisite" in n] == [
        "T002, T003 run without waiting for their prerequisite T001, neither selected nor "
        "done (not ticked): select it too, or run it first"
    ]
    # Selected with it, or done (ticked) before: nothing to say.
    assert main(["run", str(path), "--dry-run", "--only", "T001,T002"]) == 0
    assert "prerequisite" not in capsys.readouterr().err
    assert main(["run", str(path), "--only", "T001"]) == 0
    assert "- [X] T001" in path.read_text()
    capsys.readouterr()
    assert main(["run", str(path), "--only", "T002"]) == 0
    assert "prerequisite" not in capsys.readouterr().err


def test_a_bad_selector_from_the_configuration_names_where_it_was_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import taskexec_nb
    from taskexec_nb.errors import UsageError

    path = write(tmp_path, PREREQUISITES)
    (tmp_path / ".git").mkdir()
    (tmp_path / "taskexec.toml").write_text('max_workers = 1\nonly = ["US9"]\n')
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'taskexec.toml'}:2: only='US9': matches no task" in err
    # The flag wins over the file, and is named as the flag.
    assert main(["run", str(path), "--dry-run", "--only", "US8"]) == 2
    assert "--only US8: matches no task" in capsys.readouterr().err
    (tmp_path / "taskexec.toml").unlink()
    monkeypatch.setenv("TASKEXEC_UNTIL", "T099")
    assert main(["run", str(path), "--dry-run"]) == 2
    assert "TASKEXEC_UNTIL='T099': matches no task" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"^TASKEXEC_UNTIL='T099': matches no task"):
        taskexec_nb.load(path).run()
    with pytest.raises(UsageError, match=r"^until='T098': matches no task"):
        taskexec_nb.load(path).run(until="T098")


def test_resume_reruns_only_what_did_not_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FAILING)
    assert main(["run", str(path), "--no-writeback"]) == 1
    path.write_text(FAILING.replace("exit 4", "true"))
    assert main(["run", str(path), "--resume", "--no-writeback"]) == 0
    err = capsys.readouterr().err
    assert "T001 changed since run" not in err  # T001 had failed: it simply runs again
    assert (tmp_path / "never.txt").read_text() == "never\n"
    state = str(tmp_path / ".taskexec")
    assert main(["runs", "--state-dir", state]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 1 and "completed" in rows[0]  # one run, resumed in place


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resource", "gpu"], "--resource 'gpu': write NAME=AMOUNT"),
        (["--agent-command", "[1, 2"], "--agent-command: not a JSON list"),
        (["--agent-command", "agent 'unclosed"], "--agent-command:"),
        (["--only", "T01"], "--only T01: matches no task (did you mean T001?)"),
        (["--resume", "nope"], "no run 'nope'"),
        (["-j", "0"], "--jobs: max_workers: must be >= 1 (got 0)"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = write(tmp_path, TASKS)
    if args[0] == "--resume":
        assert main(["run", str(path), "--no-writeback"]) == 0
    assert main(["run", str(path), *args]) == 2
    assert message in capsys.readouterr().err


def test_resume_without_any_run_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TASKS)
    assert main(["run", str(path), "--resume"]) == 2
    assert "no earlier run of" in capsys.readouterr().err


def test_invalid_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "- [ ] T001 A (depends on T002)\n- [ ] T002 B (depends on T001)\n")
    assert main(["run", str(path)]) == 2
    assert "TX103" in capsys.readouterr().err


def test_status_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--state-dir", str(tmp_path / "none")]) == 2
    assert "no state store at" in capsys.readouterr().err
    assert main(["runs", "--state-dir", str(tmp_path / "none")]) == 2


def test_status_of_an_empty_store_and_report_of_a_missing_file_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.store import StateStore

    state = tmp_path / "state"
    state.mkdir()
    StateStore(state / "state.db").close()  # a store with no run in it
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--state-dir", str(state)]) == 2
    assert f"taskexec: error: no runs in {state / 'state.db'}" in capsys.readouterr().err
    assert main(["report", "--tasks", "gone.md", "--state-dir", str(state)]) == 2
    assert capsys.readouterr().err == "taskexec: error: gone.md: no such file\n"


def test_agent_command_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "## Phase 1: X\n\n- [ ] T001 Ask the agent; rm -rf $(pwd)\n")
    agent = [sys.executable, "-c", "import sys; open('got.txt', 'w').write(sys.argv[1])", "{id}"]
    assert main(["run", str(path), "--agent-command", json.dumps(agent)]) == 0
    assert (tmp_path / "got.txt").read_text() == "T001"
    assert path.exists()


def test_ctrl_c_interrupts_and_the_run_resumes(tmp_path: Path) -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 Slow
          ~~~bash
          echo started
          sleep 30
          ~~~
        - [ ] T002 Then this
          ~~~bash
          echo ok > done.txt
          ~~~
        """
    )
    proc = _started_runner(tmp_path, text)  # T001 said it started: the interrupt reaches it
    path = tmp_path / "tasks.md"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "--resume" in err
    path.write_text(text.replace("sleep 30", "true"))
    done = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path), "--resume"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "done.txt").read_text() == "ok\n"


def test_sigterm_is_an_interrupt_too(tmp_path: Path) -> None:
    path = write(tmp_path, SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 20
    while time.time() < deadline and not list(
        (tmp_path / ".taskexec" / "logs").glob("*/T001.1.log")
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(
    kind: EventKind, task: str | None = None, status: str | None = None, **data: object
) -> Event:
    return Event(kind, "R1", task, 1 if task else None, status, data)


def test_terminal_view_live_line_and_permanent_lines() -> None:
    stream = _Tty()
    view = TerminalView(stream, total=2, rate=100)
    assert view.live and not view.verbose
    view(_event(EventKind.RUN_STARTED))
    view(_event(EventKind.TASK_STARTED, "T001"))
    view(_event(EventKind.TASK_OUTPUT, "T001", stream="stdout", text="x"))
    time.sleep(0.1)
    assert "running: T001" in view.status_line()
    view(_event(EventKind.RUN_PAUSED))
    assert "[paused]" in view.status_line()
    view(_event(EventKind.RUN_RESUMED))
    view(_event(EventKind.TASK_RETRYING, "T001", error="exit code 1", delay=0.5))
    view(
        _event(
            EventKind.TASK_FINISHED,
            "T001",
            "timed_out",
            error="timed out after 1 s",
            stderr_tail="late",
            log_path="/tmp/T001.1.log",
        )
    )
    view(_event(EventKind.NOTICE, warning="tasks.md changed"))
    view(_event(EventKind.TASK_FINISHED, "T002", "completed"))
    view(_event(EventKind.RUN_FINISHED, status="failed"))
    text = stream.getvalue()
    assert "\r" in text  # the live line was drawn in place
    assert "TIMED OUT T001: timed out after 1 s" in text and "| late" in text
    assert "retry     T001 after attempt 1: exit code 1 (next in 0.5 s)" in text
    assert "note      tasks.md changed" in text
    assert "start" not in text  # starts and successes only in verbose mode
    assert "run R1 failed: 2/2 finished: 1 ok, 1 TIMED OUT" in text


def test_terminal_view_plain_mode_prints_every_step() -> None:
    stream = io.StringIO()
    view = TerminalView(stream, total=1)
    assert not view.live and view.verbose
    view(_event(EventKind.RUN_STARTED))
    view(_event(EventKind.TASK_STARTED, "T001"))
    view(_event(EventKind.TASK_FINISHED, "T001", "completed"))
    view(_event(EventKind.RUN_FINISHED, status="completed"))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "run R1: 1 task(s)",
        "  start     T001 (attempt 1)",
        "  ok        T001",
        "run R1 completed: 1/1 finished: 1 ok",
    ]
    assert "\r" not in stream.getvalue()
    many = TerminalView(io.StringIO(), total=6)
    for i in range(6):
        many(_event(EventKind.TASK_STARTED, f"T00{i}"))
    assert many.status_line().endswith("+2")


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "## Phase 1: X\n\n"
        + "".join(
            f"- [ ] T{i:04d} Task {i}, described at length to fill the pipe\n"
            for i in range(1, 4000)
        ),
    )
    proc = subprocess.run(
        f"{sys.executable} -m taskexec_nb.cli run {path} --dry-run | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.startswith("dry run: 3999 task(s)")
    assert "Traceback" not in proc.stderr


def test_status_runs_and_report_of_a_linked_tasks_file_find_its_run(tmp_path: Path) -> None:
    # work/tasks.md links to real/tasks.md: the run keeps its store beside the file linked
    # to, and works there; status, runs and report in work/ look there too.
    real, work = tmp_path / "real", tmp_path / "work"
    real.mkdir()
    work.mkdir()
    step = '- [ ] T001 Where\n  - taskexec: run="pwd > where-{0}.txt"\n'
    (real / "tasks.md").write_text("# Tasks\n\n" + step.format("tasks"), encoding="utf-8")
    (real / "other.md").write_text("# Tasks\n\n" + step.format("other"), encoding="utf-8")
    (work / "tasks.md").symlink_to(Path("..") / "real" / "tasks.md")

    def cli(*argv: str, cwd: Path = work) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = cli("run", "tasks.md")
    assert first.returncode == 0, first.stderr
    assert f"state: {real / '.taskexec' / 'state.db'}" in first.stdout
    assert (real / "where-tasks.txt").read_text().strip() == str(real)
    assert "[X] T001" in (real / "tasks.md").read_text() and (work / "tasks.md").is_symlink()
    later = cli("run", "other.md", cwd=real)  # a later run of another file, same store
    assert later.returncode == 0, later.stderr
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    run = json.loads(status.stdout)["run"]
    assert run["tasks_file"] == str(real / "tasks.md")
    report = cli("report", "-f", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["run"]["run_id"] == run["run_id"]
    runs = cli("runs", "--json")
    assert runs.returncode == 0, runs.stderr
    assert [r["tasks_file"] for r in json.loads(runs.stdout)] == [
        str(real / "other.md"),
        str(real / "tasks.md"),
    ]
    assert not (work / ".taskexec").exists()


def test_the_latest_run_is_the_one_resumed_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI job that resumes an older run, then writes JUnit, reports the run it resumed.
    monkeypatch.chdir(tmp_path)
    text = '## Phase 1: X\n\n- [ ] T001 Check\n  - taskexec: run="test -f fixed"\n'
    path = write_tasks(tmp_path, text)
    ids = []
    for _ in range(2):  # two failed runs: the second started later
        assert main(["run", str(path)]) == 1
        capsys.readouterr()
        assert main(["status", "--json"]) == 0
        ids.append(json.loads(capsys.readouterr().out)["run"]["run_id"])
    older, newer = ids
    assert older != newer
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--resume", older]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["run_id"] == older
    assert main(["report", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["run_id"] == older
    assert taskexec_nb.report().run_id == older


def test_status_and_report_take_a_tasks_md_where_the_run_id_goes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        text = f'# Tasks\n\n- [ ] T001 Step of {name}\n  - taskexec: run="true"\n'
        (folder / "tasks.md").write_text(text, encoding="utf-8")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", *argv],
            cwd=tmp_path,  # no tasks.md here: each command is told which one
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ids = {}
    for name in ("a", "b"):
        ran = cli("run", f"{name}/tasks.md")
        assert ran.returncode == 0, ran.stderr
        status = cli("status", f"{name}/tasks.md", "--json")
        assert status.returncode == 0, status.stderr
        run = json.loads(status.stdout)["run"]
        assert run["tasks_file"] == str(tmp_path / name / "tasks.md")
        ids[name] = run["run_id"]
    report = cli("report", "a/tasks.md", "-f", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["run"]["run_id"] == ids["a"]
    missing = cli("status", "c/tasks.md")
    assert missing.returncode == 2 and "c/tasks.md: no such file" in missing.stderr
    # The folder instead of the file in it: said so, not taken for a run ID.
    for argv in (["status", "a"], ["report", "a/"], ["report", "--tasks", "a"], ["runs", "a"]):
        folder = cli(*argv)
        assert folder.returncode == 2, argv
        assert f"{argv[-1]}: is a folder; give the tasks.md file in it" in folder.stderr, argv
    both = cli("report", "a/tasks.md", "--tasks", "b/tasks.md")
    assert both.returncode == 2 and "not with --tasks" in both.stderr


def test_runs_takes_a_tasks_md_as_status_and_report_do(tmp_path: Path) -> None:
    # From a folder without tasks.md, `taskexec runs specs/a/tasks.md` lists that file's
    # runs from the store beside it, and only those (another file's run shares it).
    folder = tmp_path / "specs" / "a"
    folder.mkdir(parents=True)
    step = '# Tasks\n\n- [ ] T001 Step\n  - taskexec: run="true"\n'
    (folder / "tasks.md").write_text(step, encoding="utf-8")
    (folder / "other.md").write_text(step, encoding="utf-8")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for name in ("tasks.md", "other.md"):
        ran = cli("run", f"specs/a/{name}")
        assert ran.returncode == 0, ran.stderr
    runs = cli("runs", "specs/a/tasks.md", "--json")
    assert runs.returncode == 0, runs.stderr
    assert [r["tasks_file"] for r in json.loads(runs.stdout)] == [str(folder / "tasks.md")]
    table = cli("runs", "specs/a/other.md")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.splitlines()) == 2 and "1 completed" in table.stdout
    missing = cli("runs", "specs/b/tasks.md")
    assert missing.returncode == 2 and "specs/b/tasks.md: no such file" in missing.stderr


UNRUN = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 [P] Decide the layout (no action: an agent's job)
    - [ ] T002 [P] Write two
      ~~~bash
      echo two > two.txt
      ~~~

    ## Phase 2: Build

    - [ ] T003 Write three
      ~~~bash
      echo three > three.txt
      ~~~
    """
)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``taskexec ARGS`` in a real process, in ``tmp_path``."""
    return subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_run_that_skipped_work_nothing_could_run_is_incomplete_and_exits_3(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, UNRUN)
    done = _cli(tmp_path, "run", "tasks.md")
    assert done.returncode == 3, done.stderr
    run_id = json.loads(_cli(tmp_path, "runs", "--json").stdout)[0]["run_id"]
    assert f"run {run_id} incomplete: 3/3 finished: 1 ok, 2 skipped" in done.stderr
    assert "run incomplete: T001 not run (no action, and no agent_command is set)" in done.stderr
    assert "T003 not run (waiting on it)" in done.stderr
    assert f"resume with: taskexec run tasks.md --resume {run_id}" in done.stderr
    assert (tmp_path / "two.txt").exists() and not (tmp_path / "three.txt").exists()
    # Stored, listed and shown as such.
    runs = _cli(tmp_path, "runs")
    assert f"{run_id}   incomplete" in runs.stdout
    status = _cli(tmp_path, "status")
    assert status.stdout.startswith(f"run {run_id}: incomplete")
    assert json.loads(_cli(tmp_path, "status", "--json").stdout)["run"]["status"] == "incomplete"
    # Every report format says so; JUnit skips the tasks not run.
    for fmt in ("md", "html", "json", "junit", "csv"):
        assert _cli(tmp_path, "report", "--format", fmt, "-o", f"r.{fmt}").returncode == 0
    assert (tmp_path / "r.md").read_text().startswith(f"# Run {run_id}: incomplete\n")
    assert "<dt>Status</dt><dd>incomplete</dd>" in (tmp_path / "r.html").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["status"] == "incomplete"
    junit = (tmp_path / "r.junit").read_text()
    assert '<property name="run_status" value="incomplete" />' in junit
    assert 'failures="0" errors="0" skipped="1"' in junit  # each phase: T001, then T003
    assert '<skipped message="no action (no_action=skip): not run, not done" />' in junit
    assert '<skipped message="prerequisite T001 skipped" />' in junit
    assert "T003,2,Build,,Write three,skipped," in (tmp_path / "r.csv").read_text()
    # Once an agent is connected, the resume runs what was not run, and the run completes.
    agent = [sys.executable, "-c", "open('agent.txt', 'w').write('{id}')"]
    resumed = _cli(tmp_path, "run", "tasks.md", "--resume", "--agent-command", json.dumps(agent))
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "agent.txt").read_text() == "T001"
    assert (tmp_path / "three.txt").exists()
    assert json.loads(_cli(tmp_path, "runs", "--json").stdout)[0]["status"] == "completed"
    assert path.read_text().count("- [X] T") == 3


def test_a_failure_beats_incomplete(tmp_path: Path) -> None:
    write(tmp_path, UNRUN.replace("echo two > two.txt", "exit 5"))
    done = _cli(tmp_path, "run", "tasks.md")
    assert done.returncode == 1, done.stderr
    assert json.loads(_cli(tmp_path, "runs", "--json").stdout)[0]["status"] == "failed"
    assert "run incomplete" not in done.stderr


def _fake_agent(folder: Path, name: str) -> dict[str, str]:
    """An executable ``name`` in ``folder/bin`` that logs its arguments; the PATH finding it."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / name
    program.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "with open('agent-calls.jsonl', 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    program.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_without_an_agent_the_run_first_says_how_to_connect_one_with_working_examples(
    tmp_path: Path,
) -> None:
    import re
    import shlex

    first = tmp_path / "first"
    first.mkdir()
    write(first, UNRUN)
    done = _cli(first, "run", "tasks.md")
    lines = done.stderr.splitlines()
    hint = next(i for i, line in enumerate(lines) if "no agent is connected" in line)
    start = next(i for i, line in enumerate(lines) if line.endswith(": 3 task(s)"))
    assert hint < start  # before anything runs
    assert "T001 has no action and no agent is connected: it is skipped, not done" in lines[hint]
    dry = _cli(first, "run", "tasks.md", "--dry-run", "--no-action", "fail")
    assert "taskexec: note: T001 has no action and no agent is connected: it fails" in dry.stderr
    flag = re.search(r"--agent-command '([^']+)'", lines[hint])
    toml = re.search(r"agent_command = \[[^\]]+\]", lines[hint])
    assert flag and toml
    # Both examples work as given: the flag, and the line in taskexec.toml.
    for how in ("flag", "toml"):
        folder = tmp_path / how
        folder.mkdir()
        write(folder, UNRUN)
        env = _fake_agent(folder, shlex.split(flag.group(1))[0])
        args = ["run", "tasks.md", "--agent-command", flag.group(1)] if how == "flag" else []
        if how == "toml":
            (folder / "taskexec.toml").write_text(toml.group(0) + "\n")
            args = ["run", "tasks.md"]
        ran = subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "no agent is connected" not in ran.stderr
        calls = [json.loads(x) for x in (folder / "agent-calls.jsonl").read_text().splitlines()]
        assert len(calls) == 1 and calls[0][:-1] == shlex.split(flag.group(1))[1:-1]
        assert "T001" in calls[0][-1]  # the prompt, one argument
    # Nothing to say when every task has an action.
    acting = tmp_path / "acting"
    acting.mkdir()
    write(acting, TASKS)
    assert "no agent is connected" not in _cli(acting, "run", "tasks.md", "--dry-run").stderr


def test_an_incomplete_run_that_had_an_agent_says_to_resume_with_no_action_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, UNRUN)
    agent = json.dumps([sys.executable, "-c", "open('agent.txt', 'w').write('{id}')"])
    assert main(["run", str(path), "--no-action", "skip", "--agent-command", agent]) == 3
    err = capsys.readouterr().err
    assert "no agent is connected" not in err  # one is: the policy keeps the tasks from it
    assert "run incomplete: T001 not run (no action, and no_action=skip)" in err
    assert "resume this run with no_action=agent (--no-action agent)" in err
    assert err.rstrip().endswith("--no-action agent")
    resume = ["run", str(path), "--resume", "--no-action", "agent", "--agent-command", agent]
    assert main(resume) == 0
    assert (tmp_path / "agent.txt").read_text() == "T001"


FAILS_THEN_DEPENDENT = (
    "# Tasks\n\n## Phase 1: Setup\n\n"
    "- [ ] T001 Fails until fixed\n"
    '  - taskexec: run="echo T001 >> count.txt; test -e fixed"\n'
    "- [ ] T002 Needs T001 (depends on T001)\n"
    '  - taskexec: run="echo T002 >> count.txt"\n'
)


def test_allow_failure_lets_dependents_run_and_a_resume_can_turn_it_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    assert main(["run", str(path), "--allow-failure", "--no-writeback"]) == 0
    assert counts(tmp_path) == ["T001", "T002"]  # T002 ran despite T001's failure
    assert "failed (allowed) T001" in capsys.readouterr().err  # the progress view
    # A resume keeps allow_failure unless told otherwise; --no-allow-failure says otherwise.
    assert main(["run", str(path), "--resume"]) == 0
    assert "allow_failure=true (now false)" in capsys.readouterr().err
    assert main(["run", str(path), "--resume", "--no-allow-failure"]) == 1
    captured = capsys.readouterr()
    assert "allow_failure=" not in captured.err
    assert "FAILED    T001" in captured.err


def test_backoff_sets_the_wait_between_retries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    start = time.monotonic()
    assert main(["run", str(path), "--retries", "2", "--backoff", "0", "--no-writeback"]) == 1
    assert time.monotonic() - start < 5  # the default backoff alone would wait 1 + 2 s
    assert counts(tmp_path) == ["T001"] * 3
    assert "(next in 0 s)" in capsys.readouterr().err
    (tmp_path / "count.txt").unlink()
    assert main(["run", str(path), "--retries", "1", "--backoff", "1.5", "--no-writeback"]) == 1
    assert "(next in 1.5 s)" in capsys.readouterr().err


def test_kill_grace_is_the_time_between_sigterm_and_sigkill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        "# Tasks\n\n## Phase 1: Setup\n\n- [ ] T001 Ignores SIGTERM\n"
        "  - taskexec: timeout=0.5s\n\n"
        "  ```bash\n  trap 'date +%s.%N > term' TERM\n"
        "  while true; do sleep 0.1 || true; done\n  ```\n",  # its sleeps get SIGTERM too
    )
    assert main(["run", str(path), "--kill-grace", "1s", "--no-writeback"]) == 1
    ended = time.time()
    assert "timed out after 0.5 s" in capsys.readouterr().err
    # SIGKILL came about 1 s after the SIGTERM it ignored, not after the default 5 s.
    after_term = ended - float((tmp_path / "term").read_text())
    assert 0.8 < after_term < 4.0, after_term


@pytest.mark.parametrize("flag", ["--backoff", "--kill-grace"])
def test_a_bad_duration_is_a_usage_error_naming_the_flag(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), flag, "soon"])
    assert exited.value.code == 2
    assert f"argument {flag}: 'soon' is not a duration" in capsys.readouterr().err
    assert counts(tmp_path) == []


def test_status_json_gives_allowed_and_ticked_as_booleans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    assert main(["run", str(path), "--allow-failure"]) == 0
    capsys.readouterr()
    assert main(["status", "--state-dir", str(tmp_path / ".taskexec"), "--json"]) == 0
    tasks = {t["task_id"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert (tasks["T001"]["allowed"], tasks["T001"]["ticked"]) == (True, False)
    assert (tasks["T002"]["allowed"], tasks["T002"]["ticked"]) == (False, True)


def test_dry_run_of_a_resume_lists_what_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    run_id = latest_run(tmp_path)["run_id"]
    capsys.readouterr()
    assert main(["run", str(path), "--resume", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"resume of run {run_id}: 2 task(s) would run" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == ["T003", "T004"]
    assert counts(tmp_path) == ["T001", "T002"]  # nothing ran
    assert latest_run(tmp_path)["status"] == "failed"  # nor was anything recorded


def test_dry_run_checks_resources_like_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, "## Phase 1: X\n\n- [ ] T001 Train\n  - taskexec: run=true needs=gpu:1\n"
    )
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "T001 needs gpu=1 but the run has gpu=0" in err
    assert "--resource gpu=1" in err and "resources={'gpu': 1}" in err
    assert not (tmp_path / ".taskexec").exists()
    assert main(["run", str(path), "--dry-run", "--resource", "gpu=1"]) == 0


def test_what_is_not_a_tasks_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    expected = {
        "folder": "is a folder",
        "fifo": "not a regular file",
        "loop1": "Too many levels of symbolic links",
        "dangling": "no such file (a broken symbolic link)",
        "missing": "no such file",
    }
    for name, message in expected.items():
        assert main(["run", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: {message}" in err, err
        assert "Traceback" not in err
    # The config search copes with a symlink loop too (the API reaches it directly).
    assert find_config(tmp_path / "loop1") is None


def test_timeout_takes_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_tasks(tmp_path, '## Phase 1: X\n\n- [ ] T001 Slow\n  - taskexec: run="sleep 20"\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(path), "--timeout", "5x"])
    assert info.value.code == 2
    assert "'5x' is not a duration" in capsys.readouterr().err
    started = time.monotonic()
    assert main(["run", str(path), "--timeout", "500ms"]) == 1
    assert time.monotonic() - started < 15  # half a second, not 500 minutes or 20 s
    assert "TIMED OUT T001" in capsys.readouterr().err


def test_an_allowed_failure_is_marked_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n',
    )
    assert main(["run", str(path)]) == 0
    err = capsys.readouterr().err
    assert "failed (allowed) T001: exit code 3" in err
    assert "1/1 finished: 1 failed (allowed)" in err
    assert "FAILED" not in err


def test_json_output_holds_json_not_json_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--only", "T001,T002", "-j", "1"]) == 0
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["selection"] == ["T001", "T002"]
    assert run["settings"]["max_workers"] == 1
    assert main(["status", "--state-dir", state, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["run"]["selection"] == ["T001", "T002"]
    deps = {t["task_id"]: t["deps"] for t in doc["tasks"]}
    assert deps["T001"] == [] and "T001" in deps["T002"]


def test_status_watch_json_prints_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    capsys.readouterr()
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--watch", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # the run has ended: one document, on one line
    doc = json.loads(lines[0])
    assert doc["run"]["status"] == "failed" and len(doc["tasks"]) == 4


def test_a_missing_working_folder_is_noted_before_and_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true cwd=nope\n")
    assert main(["run", str(path), "--dry-run"]) == 0
    folder = tmp_path / "nope"
    assert f"T001: its working folder {folder} does not exist (yet)" in capsys.readouterr().err
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    said = f"the working folder {folder} does not exist"
    assert err.count(said) == 1, err
    assert f"FAILED    T001: {said}" in err


def test_a_second_ctrl_c_kills_without_the_grace_period(tmp_path: Path) -> None:
    text = (
        "## Phase 1: X\n\n- [ ] T001 Stubborn\n"
        "  ~~~bash\n  trap '' TERM\n  echo $$ > pid\n  sleep 60\n  ~~~\n"
    )
    path = write_tasks(tmp_path, md(text))
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TASKEXEC_KILL_GRACE": "60"},
        preexec_fn=_terminal_signals,
    )
    pid = wait_pid(tmp_path / "pid")  # written after the trap is set
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    said = read_until(proc.stderr, "stopping:")  # the runner took the first interrupt
    time.sleep(1.0)
    assert proc.poll() is None  # the task ignores TERM: the runner waits out the grace
    assert os.path.exists(f"/proc/{pid}")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)  # not 60 s
    err = said + err
    assert proc.returncode == 130, err
    assert not os.path.exists(f"/proc/{pid}")


def test_status_text_columns_mark_missing_values_one_way(tmp_path: Path) -> None:
    handle = taskexec_nb.load(write_tasks(tmp_path)).run(max_workers=1)
    frame = handle.status()
    for col in ("story", "waiting_on", "error"):
        assert str(frame[col].dtype) == "string"
    assert frame["error"].isna().tolist() == [True, True, False, False]
    assert frame.loc["T003", "error"] == "exit code 3"
    assert frame["waiting_on"].isna().all()
    assert frame["story"].isna().tolist() == [True, False, False, False]


def test_status_of_a_failed_run_gives_the_command_that_resumes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = '## Phase 1: X\n\n- [ ] T001 Check\n  - taskexec: run="test -f fixed"\n'
    path = write_tasks(tmp_path, text)
    assert main(["run", str(path)]) == 1
    capsys.readouterr()
    assert main(["status"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("resume: taskexec run ") and "--resume" in line
    (tmp_path / "fixed").touch()
    command = shlex.split(line.split("  (")[0].removeprefix("resume: "))
    assert main(command[1:]) == 0  # the printed command, as given, resumes and completes
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "resume:" not in capsys.readouterr().out  # a completed run has nothing left


def test_nothing_pending_is_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [X] T001 Done\n  - taskexec: run=true\n")
    assert main(["run", str(path)]) == 0
    assert "nothing to run in" in capsys.readouterr().err
    assert not (tmp_path / ".taskexec").exists()  # no empty run recorded
    assert main(["run", str(path), "--dry-run"]) == 0
    assert "0 task(s) would run" in capsys.readouterr().out
    assert main(["run", str(path), "--only", "T009"]) == 2  # a typo is still one
    assert "--only T009: matches no task (did you mean T001?)" in capsys.readouterr().err
    # The API: a plan whose every task its first run ticked runs nothing the second time.
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true\n")
    plan = taskexec_nb.load(path)
    assert plan.run().selection == ["T001"]
    again = plan.run()
    assert again.selection == [] and again.result.value == "completed"


def test_status_interval_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(write_tasks(tmp_path))]) == 1
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--watch", "--interval", "-1"]) == 2
    assert "--interval -1: give a number of seconds above 0" in capsys.readouterr().err


def test_a_working_folder_that_is_a_file_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true cwd=tasks.md\n"
    )
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"its working folder {path} is not a folder" in err
    assert f"FAILED    T001: the working folder {path} is not a folder" in err


def test_watch_on_a_pipe_prints_only_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, '## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="echo go; sleep 2.5"\n'
    )
    proc = spawn_cli("run", str(path))
    try:
        wait_running(tmp_path)
        state = str(tmp_path / ".taskexec")
        assert main(["status", "--state-dir", state, "--watch", "--interval", "0.1"]) == 0
    finally:
        proc.communicate(timeout=30)
    snapshots = capsys.readouterr().out.split("run ")[1:]
    assert len(snapshots) >= 2  # running, then completed
    assert "completed" in snapshots[-1].splitlines()[0]
    # Each snapshot says something new (the run's or T001's status, say): a growing
    # SECONDS counter alone is not news.
    shown = [re.sub(r" +\d+\+ ", " ", s) for s in snapshots]
    assert all(a != b for a, b in itertools.pairwise(shown))


SLOW_THEN_MORE = md(
    """\
    ## Phase 1: X

    - [ ] T001 Slow
      - taskexec: run="echo started; sleep 30"
    - [ ] T002 Then this
      - taskexec: run="echo ok > done.txt"
    """
)


def _terminal_signals() -> None:
    """In the runner before it starts: the stop signals as a terminal leaves them.

    A test run started with ``nohup`` or in the background ignores SIGHUP (or
    SIGINT), and a runner keeps ignoring what it starts with ignored.
    """
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _started_runner(
    tmp_path: Path, text: str = SLOW_THEN_MORE, wrapper: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """``taskexec run`` of ``text`` (through ``wrapper``, e.g. nohup), once T001 said it started."""
    path = write_tasks(tmp_path, text)
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "taskexec_nb.cli", "run", str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_terminal_signals,
    )
    assert wait_until(
        lambda: any(
            p.read_text().startswith("started")
            for p in (tmp_path / ".taskexec" / "logs").glob("*/T001.1.log")
        ),
        30,
    )
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
def test_a_stop_signal_says_it_is_stopping_and_leaves_a_resumable_run(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = _started_runner(tmp_path)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert (
        "stopping: 1 running task(s) get SIGTERM, then SIGKILL after 5 s "
        "(interrupt again to kill them now)"
    ) in err
    assert "--resume" in err
    assert not (tmp_path / "done.txt").exists()


def test_a_second_interrupt_says_it_kills_now(tmp_path: Path) -> None:
    ignores_term = SLOW_THEN_MORE.replace('run="echo started;', "run=\"trap '' TERM; echo started;")
    assert "trap" in ignores_term
    proc = _started_runner(tmp_path, ignores_term)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    # The task ignores SIGTERM: the run says it waits out kill_grace...
    said = read_until(proc.stderr, "stopping:")
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)  # ...unless asked again
    _, err = proc.communicate(timeout=30)
    err = said + err
    assert time.monotonic() - start < 4
    assert proc.returncode == 130, err
    assert "killing 1 running task(s) now" in err


def test_a_run_under_nohup_keeps_going_when_the_terminal_closes(tmp_path: Path) -> None:
    # nohup (or a shell's `trap '' HUP`) starts the runner with SIGHUP ignored, so
    # that closing the terminal does not end it: the run must not take SIGHUP back.
    text = (
        '## Phase 1: X\n\n- [ ] T001 Slow\n  - taskexec: run="echo started; sleep 1.5"\n'
        '- [ ] T002 Then this\n  - taskexec: run="echo ok > done.txt"\n'
    )
    proc = _started_runner(tmp_path, text, wrapper=("nohup",))
    path = tmp_path / "tasks.md"
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping:" not in err
    assert (tmp_path / "done.txt").read_text() == "ok\n"
    assert "- [X] T002" in path.read_text()


def test_the_resume_commands_printed_name_a_state_dir_given_to_the_run(tmp_path: Path) -> None:
    # A run kept in a state folder of its own (--state-dir) is only found there: the
    # resume command printed when it is interrupted, and by status, must say where.
    path = write_tasks(tmp_path, SLOW_THEN_MORE)
    state = tmp_path / "ci state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path), "--state-dir", str(state)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(
        lambda: any(
            p.read_text().startswith("started") for p in (state / "logs").glob("*/T001.1.log")
        ),
        30,
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    printed = err.splitlines()[-1].split("resume with: ")[1]
    assert f"--state-dir {shlex.quote(str(state))}" in printed
    status = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", "status", "--state-dir", str(state)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shown = status.splitlines()[-1].split("resume: ")[1].split("  (")[0]
    assert shown.startswith("taskexec run ")
    assert f"--state-dir {shlex.quote(str(state))}" in shown
    # The command shown works as shown (T001 made quick meanwhile).
    path.write_text(SLOW_THEN_MORE.replace("sleep 30", "true"), encoding="utf-8")
    argv = shlex.split(shown)
    done = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", *argv[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "done.txt").read_text() == "ok\n"


def test_boxes_left_by_an_edit_during_the_run_are_ticked_by_the_resume_it_names(
    tmp_path: Path,
) -> None:
    # A task (an agent, say) edits tasks.md while the run goes: the boxes are left
    # alone, and the run's last word says how to tick them without running the tasks
    # again (a new run would run them again).
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 Leave a note in the tasks file
          - taskexec: run="echo '<!-- note -->' >> tasks.md"
        - [ ] T002 Then this
          - taskexec: run="echo two >> out.txt"
        """
    )
    path = write_tasks(tmp_path, text)
    first = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", "run", "tasks.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    assert "2 completed task(s) were not ticked: T001, T002" in first.stderr
    assert "reload the file" not in first.stderr
    run_id = str(latest_run(tmp_path)["run_id"])
    command = f"taskexec run tasks.md --resume {run_id}"
    assert command in first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", *shlex.split(command)[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert path.read_text() == text.replace("[ ]", "[X]") + "<!-- note -->\n"
    assert (tmp_path / "out.txt").read_text() == "two\n"  # ticked, not run again


def test_a_task_stopped_by_ctrl_c_says_it_was_interrupted(tmp_path: Path) -> None:
    # The running task and the one waiting to retry both end because of the Ctrl-C:
    # their detail says so (not a bare "cancelled", nor the earlier attempt's failure
    # as if it were why they stopped).
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 Slow
          - taskexec: run="echo started; sleep 30"
        - [ ] T002 [P] Flaky
          - taskexec: run="exit 3" retries=2 backoff=60
        """
    )

    def tasks() -> dict[str, dict[str, object]]:
        with closing(StateStore(tmp_path / ".taskexec" / "state.db", readonly=True)) as store:
            run_id = store.latest_run()
            assert run_id is not None
            return {t.task_id: t.as_dict() for t in store.tasks(run_id)}

    proc = _started_runner(tmp_path, text.replace("- [ ] T001", "- [ ] T001 [P]"))
    assert wait_until(lambda: "attempt 2" in str(tasks()["T002"]["waiting_on"]), 30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cancelled T001: interrupted\n" in err
    assert "cancelled T002: interrupted while waiting to retry (attempt 1: exit code 3)" in err
    errors = {task_id: t["error"] for task_id, t in tasks().items()}
    assert errors["T001"] == "interrupted"
    assert errors["T002"] == "interrupted while waiting to retry (attempt 1: exit code 3)"


@pytest.mark.parametrize("interval", ["inf", "1e300", "nan", "0"])
def test_watch_refuses_an_interval_it_cannot_sleep(tmp_path: Path, interval: str) -> None:
    path = write_tasks(tmp_path, SLOW)
    proc = spawn_cli("run", str(path))
    try:
        wait_running(tmp_path)
        watch = subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", "status", "--watch", "--interval", interval],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert watch.returncode == 2, watch.stderr
    assert "Traceback" not in watch.stderr
    assert f"--interval {float(interval):g}: give a number of seconds above 0" in watch.stderr


def test_a_relative_agent_program_is_found_from_where_it_was_written(tmp_path: Path) -> None:
    # taskexec.toml at the project root names ./scripts/agent.sh, as a path from there;
    # the tasks.md is in specs/001, where the agent runs: the program is still found,
    # whichever folder taskexec is started from. A --agent-command path is from the
    # folder it was typed in.
    (tmp_path / ".git").mkdir()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    agent = scripts / "agent.sh"
    agent.write_text('#!/bin/sh\necho "$1 by $0" >> agent.log\n', encoding="utf-8")
    agent.chmod(0o755)
    feature = tmp_path / "specs" / "001"
    feature.mkdir(parents=True)
    tasks = feature / "tasks.md"
    text = "## Phase 1: X\n\n- [ ] T001 First\n- [ ] T002 Second\n"
    (tmp_path / "taskexec.toml").write_text(
        'agent_command = ["./scripts/agent.sh", "{id}"]\n', encoding="utf-8"
    )

    def run(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        tasks.write_text(text, encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "taskexec_nb.cli", "run", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for cwd, argv in (
        (tmp_path, ["specs/001/tasks.md"]),
        (feature, ["tasks.md"]),
        (tmp_path, ["specs/001/tasks.md", "--agent-command", "scripts/agent.sh {id}"]),
    ):
        done = run(cwd, *argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert "- [X] T002" in tasks.read_text()
    lines = (feature / "agent.log").read_text().splitlines()
    assert lines == [f"T00{n} by {agent}" for n in (1, 2)] * 3
