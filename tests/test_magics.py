"""The IPython magics (``%load_ext taskexec_nb``), driven through a real Jupyter kernel.

One kernel serves the module (its folder is the notebook's folder); each test writes
its own tasks.md there. What a user sees is read from the kernel's iopub messages:
display data, streams, and error messages (a traceback would be an ``error`` message).
A few fast checks use an in-process IPython shell (a terminal's: no event loop).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import md
from helpers import Executed, Kernel, wait_until

import taskexec_nb
from taskexec_nb.jupyter.magics import DAG_LIMIT

GOOD = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Make the folder out/
      - taskexec: run="mkdir -p out"
    - [ ] T002 [P] [US1] Write a
      - taskexec: run="echo a > out/a.txt"
    - [ ] T003 [P] [US2] Write b
      - taskexec: run="echo b > out/b.txt"

    ## Phase 2: Join

    - [ ] T004 Join them (depends on T002, T003)
      - taskexec: run="cat out/a.txt out/b.txt > out/ab.txt"
    """
)

BAD = md(
    """\
    # Tasks

    ## Phase 1: A

    - [ ] T001 First
      - taskexec: run="true"
    - [ ] T002 Second (depends on T099)
      - taskexec: run="true"
    """
)


def steps(n: int, sleep: float) -> str:
    """``n`` tasks one after another, each sleeping, each leaving a file when it starts."""
    lines = ["# Tasks", "", "## Phase 1: Steps", ""]
    for i in range(1, n + 1):
        lines.append(f"- [ ] T{i:03d} Step {i}")
        lines.append(f'  - taskexec: run="touch started-T{i:03d}; sleep {sleep}"')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    started = Kernel(tmp_path_factory.mktemp("notebook"))
    try:
        loaded = started.run("%load_ext taskexec_nb")
        assert loaded.ok and not loaded.outputs, loaded
        yield started
    finally:
        started.close()


@pytest.fixture
def here(kernel: Kernel, request: pytest.FixtureRequest) -> Path:
    """A folder of the test's own in the notebook's folder; the kernel works in it."""
    folder = kernel.cwd / re.sub(r"\W+", "_", request.node.name)[:80]
    folder.mkdir()
    done = kernel.run(f"%cd -q {folder}")
    assert done.ok, done
    return folder


def is_figure(bundle: dict[str, Any]) -> bool:
    """A plotly figure's output (its JSON, or an HTML form drawing it with plotly.js)."""
    return "application/vnd.plotly.v1+json" in bundle or "Plotly.newPlot" in bundle.get(
        "text/html", ""
    )


def usage_error(done: Executed) -> list[str]:
    """The cell failed with a UsageError and no traceback; return its lines."""
    assert not done.ok, done
    assert done.reply["ename"] == "UsageError", done
    assert not done.errors, f"a traceback was shown: {done.errors}"
    return done.stderr.strip().splitlines()


def one_line_error(done: Executed, *expected: str) -> str:
    """The cell failed with a one-line UsageError and no traceback; return the line."""
    lines = usage_error(done)
    assert len(lines) == 1, done.stderr
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


# --- %load_tasks and %%tasks ------------------------------------------------------------------


def test_load_tasks_binds_the_plan_and_shows_counts_the_plan_and_its_dag(
    kernel: Kernel, here: Path
) -> None:
    (here / "tasks.md").write_text(GOOD)
    done = kernel.run("%load_tasks tasks.md")
    assert done.ok and not done.stderr, done
    text = done.text()
    assert f"plan = the plan of {here / 'tasks.md'}: 4 task(s)" in text
    assert f"4 tasks in 2 phase(s) from {here / 'tasks.md'}, mode template" in text
    # Counts per phase and per story, as tables (HTML with a caption, text elsewhere).
    assert "Tasks per phase" in text and "Phase 1: Setup" in text and "Phase 2: Join" in text
    assert "Tasks per story" in text and "US1" in text and "US2" in text
    html = done.text("text/html")
    assert "<caption" in html and '<th scope="col">phase</th>' in html
    assert "taskexec-plan" in html  # the plan table
    assert sum(map(is_figure, done.bundles)) == 1  # the DAG
    assert kernel.value("type(plan).__name__, plan.ok, len(plan)") == ("ExecutionPlan", True, 4)


def test_the_dag_of_a_big_plan_is_drawn_when_asked(kernel: Kernel, here: Path) -> None:
    (here / "big.md").write_text(steps(DAG_LIMIT + 1, 0))
    (here / "small.md").write_text(steps(3, 0))

    def dags(line: str) -> tuple[int, str]:
        done = kernel.run(line)
        assert done.ok, done
        drawn = sum(map(is_figure, done.bundles))
        note = [line for line in done.text().splitlines() if "DAG not drawn" in line]
        return drawn, "".join(note)

    assert dags("%load_tasks big.md") == (
        0,
        f"DAG not drawn ({DAG_LIMIT + 1} tasks, over {DAG_LIMIT}): --dag draws it",
    )
    assert dags("%load_tasks big.md --dag") == (1, "")
    assert dags("%load_tasks small.md") == (1, "")
    assert dags("%load_tasks small.md --no-dag") == (0, "DAG not drawn (--no-dag): --dag draws it")


def test_load_tasks_binds_another_name_with_o_and_takes_mode(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    done = kernel.run("%load_tasks tasks.md --mode explicit -o other")
    assert done.ok, done
    assert "other = the plan of" in done.text() and "mode explicit" in done.text()
    assert kernel.value("other.mode.value") == "explicit"


def test_a_file_with_errors_shows_its_tasks_next_to_its_problems(
    kernel: Kernel, here: Path
) -> None:
    (here / "bad.md").write_text(BAD)
    done = kernel.run("%load_tasks bad.md -o broken")
    assert done.ok and not done.errors, done  # shown, not raised
    text = done.text()
    assert "1 error(s), 0 warning(s)" in text and "cannot run until the errors are fixed" in text
    problems = next(b["text/plain"] for b in done.bundles if "TX102" in b.get("text/plain", ""))
    row = next(line for line in problems.splitlines() if "TX102" in line)
    assert row.split()[:3] == ["7", "error", "TX102"]  # line, severity, code
    assert "unknown task T099" in row and "did you mean T001?" in row  # message and hint
    assert "T001" in done.text("text/html") and "taskexec-plan" in done.text("text/html")
    assert kernel.value("broken.ok, len(broken)") == (False, 2)
    refused = usage_error(kernel.run("%run_tasks broken"))
    assert "%run_tasks: " in refused[0] and "the plan has 1 error(s) and cannot run" in refused[0]
    assert "bad.md:7: error TX102: T002 depends on unknown task T099" in refused[1]


def test_a_missing_file_is_one_line_naming_the_path(kernel: Kernel, here: Path) -> None:
    missing = kernel.run("%load_tasks nope/tasks.md")
    one_line_error(missing, "%load_tasks: nope/tasks.md: no such file")
    one_line_error(kernel.run(f"%load_tasks {here}"), "is a folder")


def test_tasks_cell_magic_loads_the_cell_and_runs_it_in_the_notebook_folder(
    kernel: Kernel, here: Path
) -> None:
    done = kernel.run("%%tasks -o cell\n" + GOOD)
    assert done.ok, done
    assert "cell = the plan of <cell cell>: 4 task(s)" in done.text()
    started = kernel.run("%run_tasks cell -o cell_run")
    assert started.ok, started
    assert kernel.run("await cell_run").result == "<RunStatus.COMPLETED: 'completed'>"
    assert (here / "out" / "ab.txt").read_text() == "a\nb\n"
    assert (here / ".taskexec" / "state.db").is_file()  # state beside the notebook's work


def test_a_cell_plan_is_resumed_from_the_notebook_folder(kernel: Kernel, here: Path) -> None:
    flaky = GOOD.replace('run="echo b > out/b.txt"', 'run="test -e go && echo b > out/b.txt"')
    flaky = flaky.replace('run="echo a > out/a.txt"', 'run="echo a >> out/a.txt"')
    assert kernel.run("%%tasks -o cell\n" + flaky).ok
    assert kernel.run("%run_tasks cell\nawait run").result == "<RunStatus.FAILED: 'failed'>"
    first = kernel.value("run.run_id")
    (here / "go").touch()
    resumed = kernel.run("%run_tasks cell --resume\nawait run")
    assert resumed.result == "<RunStatus.COMPLETED: 'completed'>", resumed
    assert kernel.value("run.run_id, run.resumed") == (first, True)
    assert (here / "out" / "ab.txt").read_text() == "a\nb\n"  # T002 had completed: run once


def test_two_cell_plans_keep_their_own_runs(kernel: Kernel, here: Path) -> None:
    one = '# Tasks\n\n- [ ] T001 One\n  - taskexec: run="test -e go-{0} && echo {0} >> {0}.txt"\n'
    assert kernel.run("%%tasks -o a\n" + one.format("a")).ok
    assert kernel.run("%%tasks -o b\n" + one.format("b")).ok
    assert kernel.run("%run_tasks b -o rb\nawait rb").result == "<RunStatus.FAILED: 'failed'>"
    assert kernel.run("%run_tasks a -o ra\nawait ra").result == "<RunStatus.FAILED: 'failed'>"
    (here / "go-b").touch()
    # b's --resume continues b's run (before, every cell was "<string>": it took a's, the latest)
    resumed = kernel.run("%run_tasks b --resume -o rb2\nawait rb2")
    assert resumed.result == "<RunStatus.COMPLETED: 'completed'>", resumed
    assert kernel.value("rb2.run_id == rb.run_id, rb2.run_id != ra.run_id") == (True, True)
    assert (here / "b.txt").read_text() == "b\n" and not (here / "a.txt").exists()
    runs = kernel.value(
        "sorted({r['tasks_file'] for r in __import__('taskexec_nb').runs(state_dir='.taskexec')})"
    )
    assert [Path(r).name for r in runs] == ["<cell a>", "<cell b>"]


def test_a_second_run_of_the_same_tasks_is_refused_by_its_cell(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(steps(1, 30))
    assert kernel.run("%load_tasks tasks.md\n%run_tasks").ok
    assert wait_until(lambda: (here / "started-T001").exists())
    lines = usage_error(kernel.run("%run_tasks -o second"))
    assert lines[0].startswith("UsageError: %run_tasks: ") and "T001" in lines[0], lines
    assert kernel.value("'second' in globals(), run.done") == (False, False)
    assert kernel.run("%cancel_tasks\nawait run").result == "<RunStatus.CANCELLED: 'cancelled'>"


def test_tasks_cell_with_errors_shows_them(kernel: Kernel, here: Path) -> None:
    done = kernel.run("%%tasks\n" + BAD)
    assert done.ok and not done.errors, done
    assert "<cell plan>" in done.text() and "TX102" in done.text()


# --- bad arguments: one line each, naming the magic and its usage -----------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%load_tasks", "the following arguments are required: FILE"),
        ("%load_tasks tasks.md --bogus", "unrecognized arguments: --bogus"),
        ("%load_tasks tasks.md --mode nope", "argument --mode: invalid choice: 'nope'"),
        ("%load_tasks tasks.md -o 1x", "-o 1x: not a Python name"),
        ('%load_tasks "tasks.md', "cannot read the arguments: No closing quotation"),
        ("%%tasks --nope\n- [ ] T001 x", "%%tasks: unrecognized arguments: --nope"),
        ("%%tasks --profile\n- [ ] T001 x", "(%%tasks?)"),
        ("%%tasks --profile none\n- [ ] T001 x", "%%tasks: profile 'none' was asked for"),
        ("%run_tasks -j many", "argument -j/--jobs: invalid int value: 'many'"),
        ("%run_tasks --mode stories", "the mode is chosen when the plan is loaded"),
        ("%run_tasks --timeout soon", "argument --timeout:"),
        ("%run_tasks --resource gpu", "--resource 'gpu': write NAME=AMOUNT"),
        ("%run_tasks --resume --only T001", "--resume continues the run's own selection"),
        ("%run_tasks --takeover", "--takeover goes with --resume"),
        ("%run_tasks --only T404", "--only T404: matches no task"),
        ("%run_tasks --resume no-such-run", "resume: no earlier run of"),
        ("%run_tasks nothing_here", "no variable 'nothing_here'"),
        ("%run_tasks not_a_plan", "not_a_plan is a int, not a plan"),
        ("%tasks_status --by week", "argument --by: invalid choice: 'week'"),
        ("%pause_tasks now", "%pause_tasks: unrecognized arguments: now"),
        ("%resume_tasks later", "%resume_tasks: unrecognized arguments: later"),
        ("%cancel_tasks -f", "%cancel_tasks: unrecognized arguments: -f"),
        ("%tasks_report --tasks", "argument --tasks: expected one argument"),
        ("%tasks_report --tasks nope.md", "%tasks_report: --tasks nope.md: no such file"),
        ("%tasks_runs --tasks nope.md", "%tasks_runs: --tasks nope.md: no such file"),
        ("%tasks_runs extra", "%tasks_runs: unrecognized arguments: extra"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(
    kernel: Kernel, here: Path, line: str, expected: str
) -> None:
    (here / "tasks.md").write_text(GOOD)
    assert kernel.run("%load_tasks tasks.md\nnot_a_plan = 3").ok
    message = one_line_error(kernel.run(line), expected)
    if "usage:" in message:  # argparse's own errors say how to call the magic
        magic = line.split()[0].lstrip("%")
        assert f"usage: %{'%' if line.startswith('%%') else ''}{magic}" in message


def test_question_mark_shows_the_options(kernel: Kernel) -> None:
    done = kernel.run("%load_tasks?")
    assert done.ok, done
    page = "".join(p["data"]["text/plain"] for p in done.reply["payload"] if p["source"] == "page")
    for part in ("%load_tasks FILE", "--mode", "--profile", "-o NAME", "bind it to NAME"):
        assert part in page, page
    run_help = kernel.run("%run_tasks?").reply["payload"][0]["data"]["text/plain"]
    for part in ("--dry-run", "--resume", "--jobs", "--only", "--from", "--until", "await run"):
        assert part in run_help, part


def test_load_tasks_paths_tab_complete(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    (here / "notes.txt").write_text("")
    (here / "notes.md").write_text("")
    (here / "specs" / "001").mkdir(parents=True)
    (here / "specs" / "001" / "tasks.md").write_text(GOOD)
    assert kernel.complete("%load_tasks ta") == ["tasks.md"]
    assert "specs/" in kernel.complete("%load_tasks sp")
    assert kernel.complete("%load_tasks specs/001/t") == ["specs/001/tasks.md"]
    assert kernel.complete("%load_tasks no") == ["notes.md"]  # Python names and .txt aside
    assert set(kernel.complete("%load_tasks tasks.md --mode ")) == {
        "template",
        "stories",
        "explicit",
    }


def completed(kernel: Kernel, line: str) -> list[str]:
    """The lines a front end makes of each completion at the end of ``line``."""
    msg_id = kernel.client.complete(line, len(line))
    while True:
        reply = kernel.client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            start = reply["content"]["cursor_start"]
            return [line[:start] + m for m in reply["content"]["matches"]]


def test_tab_quotes_paths_with_spaces_so_the_line_reads_them(kernel: Kernel, here: Path) -> None:
    (here / "my specs" / "001").mkdir(parents=True)
    (here / "my specs" / "001" / "my tasks.md").write_text(GOOD)
    assert completed(kernel, "%load_tasks my") == ["%load_tasks 'my specs/'"]
    assert completed(kernel, "%load_tasks 'my specs/'") == ["%load_tasks 'my specs/001/'"]
    assert completed(kernel, "%load_tasks 'my specs/001/m") == [
        "%load_tasks 'my specs/001/my tasks.md'"
    ]
    assert completed(kernel, "%load_tasks my\\ specs/0") == ["%load_tasks 'my specs/001/'"]
    done = kernel.run(completed(kernel, "%load_tasks 'my specs/001/m")[0] + " --no-dag")
    assert done.ok and f"plan = the plan of {here / 'my specs/001/my tasks.md'}" in done.text()


# --- %run_tasks and the run's controls ---------------------------------------------------------


def test_run_tasks_returns_at_once_and_await_run_waits_for_the_end(
    kernel: Kernel, here: Path
) -> None:
    (here / "tasks.md").write_text(steps(3, 0.4))
    assert kernel.run("%load_tasks tasks.md").ok
    began = time.monotonic()
    done = kernel.run("%run_tasks -j 1")
    assert done.ok and not done.stderr, done
    assert time.monotonic() - began < 1.0  # the three tasks take 1.2 s
    assert any(  # the handle is shown: as text, or as the dashboard where widgets are
        "RunHandle" in b.get("text/plain", "") or "application/vnd.jupyter.widget-view+json" in b
        for b in done.bundles
    )
    assert kernel.value("run.done") is False  # the user keeps working
    status = kernel.run("%tasks_status")
    assert status.ok and "running" in status.stdout and status.result is not None
    assert kernel.run("await run").result == "<RunStatus.COMPLETED: 'completed'>"
    assert kernel.value("list(run.status()['status'])") == ["completed"] * 3
    again = kernel.run("%tasks_status --by phase")
    assert "completed: 3 completed" in again.stdout and "Steps" in again.result
    # The boxes were ticked: a second %run_tasks of the same plan has nothing to do.
    assert "nothing to run" in kernel.run("%run_tasks").stdout


def test_run_tasks_maps_the_options_as_taskexec_run_does(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    assert kernel.run("%load_tasks tasks.md").ok
    done = kernel.run("%run_tasks -j 3 --no-writeback --only T001,US1 --retries 2 -o picked")
    assert done.ok, done
    assert kernel.run("await picked").ok
    assert kernel.value(
        "picked.settings.max_workers, picked.settings.writeback, picked.settings.retries, "
        "picked.selection"
    ) == (3, False, 2, ["T001", "T002"])
    assert not (here / "out" / "b.txt").exists()


def test_dry_run_shows_the_waves_and_runs_nothing(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    assert kernel.run("%load_tasks tasks.md").ok
    done = kernel.run("%run_tasks --dry-run --from T002")
    assert done.ok, done
    assert done.stdout.splitlines()[:4] == [
        "note: T002, T003 run without waiting for their prerequisite T001, neither selected "
        "nor done (not ticked): select it too, or run it first",
        "dry run: 3 task(s) would run with max_workers=2, no_action=skip",
        "wave 0:",
        "  T002     command          Write a",
    ]
    assert not (here / "out").exists() and not (here / ".taskexec").exists()


def test_pause_in_the_starting_cell_acts_once_the_run_has_started(
    kernel: Kernel, here: Path
) -> None:
    (here / "tasks.md").write_text(steps(3, 0.1))
    assert kernel.run("%load_tasks tasks.md").ok
    done = kernel.run("%run_tasks\n%pause_tasks")
    assert done.ok and "paused: no new task starts" in done.stdout, done
    time.sleep(0.8)  # unpaused, the three tasks would be done by now
    status = kernel.run("%tasks_status")
    assert status.stdout.startswith(f"run {kernel.value('run.run_id')} paused:"), status.stdout
    assert kernel.value("run.paused") is True
    assert len(list(here.glob("started-*"))) <= 1  # the first may have been starting
    assert "T003" not in {p.name[8:] for p in here.glob("started-*")}
    assert kernel.run("%resume_tasks").stdout.endswith("resumed\n")
    assert kernel.run("await run").result == "<RunStatus.COMPLETED: 'completed'>"
    assert len(list(here.glob("started-*"))) == 3


def test_status_in_the_starting_cell_says_the_run_has_not_started(
    kernel: Kernel, here: Path
) -> None:
    # The run starts once the cell ends: no "running: no tasks" and empty table before.
    (here / "tasks.md").write_text(steps(3, 0.1))
    done = kernel.run("%load_tasks tasks.md --no-dag\n%run_tasks --no-writeback\n%tasks_status")
    assert done.ok, done
    run_id = kernel.value("run.run_id")
    assert done.stdout == (
        f"run {run_id} has not started yet (it starts once this cell ends): "
        "%tasks_status in a later cell lists its tasks\n"
    ), done.stdout
    assert done.result is None
    assert kernel.run("await run").ok
    later = kernel.run("%tasks_status")
    assert later.stdout.startswith(f"run {run_id} completed: 3 completed"), later.stdout
    assert kernel.value("len(_)") == 3


def test_pause_lets_the_running_task_end_and_starts_no_other(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(steps(3, 0.5))
    assert kernel.run("%load_tasks tasks.md\n%run_tasks -j 1").ok
    assert wait_until(lambda: (here / "started-T001").exists())
    assert kernel.run("%pause_tasks").ok
    time.sleep(1.2)  # T001 ends meanwhile; T002 would have started
    status = kernel.run("%tasks_status")
    assert "paused: 1 completed" in status.stdout, status.stdout
    assert kernel.value("list(run.status()['status'])")[0] == "completed"
    assert "running" not in kernel.value("list(run.status()['status'])")
    assert not (here / "started-T002").exists()
    assert kernel.run("%resume_tasks").ok
    assert "is not paused: nothing to resume" in kernel.run("%resume_tasks").stdout
    assert kernel.run("await run").result == "<RunStatus.COMPLETED: 'completed'>"


def test_cancel_stops_the_run(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(steps(2, 30))
    assert kernel.run("%load_tasks tasks.md\n%run_tasks").ok
    assert wait_until(lambda: (here / "started-T001").exists())
    done = kernel.run("%cancel_tasks")
    assert done.ok and "cancelled" in done.stdout, done
    assert kernel.run("await run", timeout=20).result == "<RunStatus.CANCELLED: 'cancelled'>"
    assert kernel.value("sorted(set(run.status()['status']))") == ["cancelled"]
    assert not (here / "started-T002").exists()
    one_line_error(kernel.run("%pause_tasks"), "has ended (cancelled); nothing to pause")
    one_line_error(kernel.run("%cancel_tasks"), "nothing to cancel")


# --- %tasks_report and %tasks_runs --------------------------------------------------------------


def test_report_and_runs_of_the_last_and_a_named_run(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    assert kernel.run("%load_tasks tasks.md\n%run_tasks --only T001").ok
    assert kernel.run("first = (await run, run.run_id)[1]").ok
    assert kernel.run("%run_tasks").ok
    assert kernel.run("await run").ok
    first, last = kernel.value("first"), kernel.value("run.run_id")
    report = kernel.run("%tasks_report -o df")
    assert report.ok, report
    assert f"<ExecutionReport {last} completed: 3 completed>" in report.text()
    assert "<section" in report.text("text/html")  # the summary, then the task table
    # The task table is wider than a notebook: it scrolls in a named, focusable region.
    assert f'role="region" tabindex="0" aria-label="Tasks of run {last}"' in report.text(
        "text/html"
    )
    assert kernel.value("type(df).__name__, sorted(df.reset_index()['id'])") == (
        "DataFrame",
        ["T002", "T003", "T004"],
    )
    named = kernel.run(f"%tasks_report {first}")
    assert f"<ExecutionReport {first} completed: 1 completed>" in named.text()
    one_line_error(kernel.run("%tasks_report 20000101-000000-dead"), "20000101-000000-dead")
    runs = kernel.run("%tasks_runs -o past")
    assert runs.ok and runs.result is not None, runs
    assert kernel.value("list(past.index), list(past['status']), list(past['completed'])") == (
        [last, first],
        ["completed", "completed"],
        [3, 1],
    )
    assert kernel.value("str(past['started'].dtype), bool(past['duration'].ge(0).all())") == (
        "datetime64[us, UTC]",
        True,
    )


def test_runs_of_a_resumed_run_give_its_working_time_and_when_it_was_resumed(
    kernel: Kernel, here: Path
) -> None:
    # T002 fails; 2 s later the run is resumed and completes. Its duration is the time
    # it worked, as its report's wall time (not the pause between), and "resumed" a time.
    (here / "tasks.md").write_text(
        GOOD.replace('run="echo b > out/b.txt"', 'run="test -e ok && echo b > out/b.txt"')
    )
    assert kernel.run("%load_tasks tasks.md --no-dag\n%run_tasks --no-writeback").ok
    assert kernel.value("(await run).value") == "failed"
    time.sleep(2)
    (here / "ok").touch()
    assert kernel.run("%run_tasks --resume --no-writeback").ok
    assert kernel.value("(await run).value") == "completed"
    assert kernel.run(
        "import taskexec_nb\n%tasks_runs -o past\nrep = taskexec_nb.report(run.run_id)"
    ).ok
    row = "past.iloc[0]"
    assert kernel.value(f"str(past['resumed'].dtype), bool({row}.resumed > {row}.started)") == (
        "datetime64[us, UTC]",
        True,
    )
    gap = kernel.value(f"({row}.finished - {row}.started).total_seconds()")
    duration, wall = kernel.value(f"float({row}.duration), rep.summary['wall_time']")
    assert gap >= 2 and duration < gap - 1.5, (gap, duration)
    assert abs(duration - wall) < 0.01, (duration, wall)


def test_runs_of_a_file_never_run_are_an_empty_table(kernel: Kernel, here: Path) -> None:
    (here / "tasks.md").write_text(GOOD)
    (here / "other.md").write_text(GOOD)
    assert kernel.run("%load_tasks tasks.md\n%run_tasks --only T001\nawait run").ok
    assert kernel.run("%tasks_runs --tasks other.md -o none").ok
    assert kernel.value("len(none), list(none.columns)[:5]") == (
        0,
        ["status", "started", "finished", "mode", "tasks"],
    )


def test_store_magics_without_a_store_say_so(kernel: Kernel, here: Path) -> None:
    one_line_error(kernel.run(f"%tasks_runs --state-dir {here}/none"), "no state store at")
    one_line_error(kernel.run(f"%tasks_report --state-dir {here}/none"), "no state store at")


# --- the extension: loading and unloading -------------------------------------------------------


def test_unload_removes_the_magics_and_a_new_load_has_no_run(kernel: Kernel, here: Path) -> None:
    assert kernel.run("%unload_ext taskexec_nb").ok
    gone = kernel.run("%load_tasks tasks.md")
    assert "Line magic function `%load_tasks` not found" in gone.stderr
    assert kernel.run("%load_ext taskexec_nb").ok
    for magic in ("tasks_status", "pause_tasks", "resume_tasks", "cancel_tasks"):
        one_line_error(kernel.run(f"%{magic}"), f"%{magic}: no run started here yet")


def test_importing_the_package_loads_no_ipython() -> None:
    code = "import sys, taskexec_nb; print(sorted(m for m in sys.modules if 'IPython' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- in process: a terminal's IPython (no event loop: the run starts on a thread) -------------


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "taskexec_nb")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "taskexec_nb")


def test_without_an_event_loop_the_run_starts_on_a_thread(shell: Any, tmp_path: Path) -> None:
    (tmp_path / "tasks.md").write_text(steps(2, 1.0))
    shell.run_line_magic("load_tasks", "tasks.md")
    shell.run_line_magic("run_tasks", "")
    shell.run_line_magic("pause_tasks", "--suspend")  # as soon as it has started
    run = shell.user_ns["run"]
    assert wait_until(lambda: run.paused)
    shell.run_line_magic("resume_tasks", "")
    assert run.join(20) is taskexec_nb.RunStatus.COMPLETED
    assert len(list(tmp_path.glob("started-*"))) == 2


def test_tasks_runs_with_no_plan_lists_every_run_of_the_folder(shell: Any, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(steps(1, 0))
    (tmp_path / "b.md").write_text(steps(2, 0))
    for name in ("a.md", "b.md"):
        taskexec_nb.load(tmp_path / name).run()
    frame = shell.run_line_magic("tasks_runs", "")
    assert sorted(frame["tasks"]) == [1, 2]
    assert sorted(Path(f).name for f in frame["tasks_file"]) == ["a.md", "b.md"]


def test_store_magics_read_the_runs_of_the_last_plan_loaded(shell: Any, tmp_path: Path) -> None:
    shell.run_cell_magic("tasks", "-o cell", GOOD)
    shell.user_ns["cell"].run(writeback=False)  # through the API: no run of the magics
    frame = shell.run_line_magic("tasks_runs", "")
    assert list(frame["tasks_file"]) == [str(tmp_path / "<cell cell>")]
    assert list(frame["status"]) == ["completed"] and list(frame["completed"]) == [4]
    shell.run_line_magic("tasks_report", "-o df")
    assert sorted(shell.user_ns["df"].reset_index()["id"]) == ["T001", "T002", "T003", "T004"]


def completions(shell: Any, line: str) -> list[str]:
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(line, len(line))]


def test_unload_removes_the_path_completion(shell: Any, tmp_path: Path) -> None:
    (tmp_path / "tasks.md").write_text(GOOD)
    (tmp_path / "tasks.txt").write_text("")
    assert completions(shell, "%load_tasks ta") == ["tasks.md"]
    shell.run_line_magic("unload_ext", "taskexec_nb")
    assert "tasks.txt" in completions(shell, "%load_tasks ta")  # IPython's own, all files
    shell.run_line_magic("load_ext", "taskexec_nb")


def test_completion_after_profile_and_o_is_left_to_ipython(shell: Any) -> None:
    from IPython.core.error import TryNext

    from taskexec_nb.jupyter.completion import path_candidates

    for line in ("%load_tasks t.md --profile ", "%load_tasks t.md -o "):
        with pytest.raises(TryNext):
            path_candidates(line)
    assert path_candidates("%load_tasks t.md --m") == ("--m", ["--mode"])
    assert path_candidates("%load_tasks 'no such") == ("'no such", [])
    assert path_candidates('%load_tasks "no \\"such\\') == ('"no \\"such\\', [])
    assert path_candidates("%load_tasks no\\") == ("no\\", [])
    assert path_candidates('%load_tasks a.md -o x --mode "st') == ('"st', ["stories"])
    assert completions(shell, "tasks = 1; ta") != ["tasks.md"]  # not the magic's line
