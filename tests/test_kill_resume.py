"""The crash test: SIGKILL the runner at random moments, resume, and check nothing is lost.

Every trial runs a 12-task tasks.md in a real runner process, kills it with
SIGKILL at a random moment (possibly again after each resume) and resumes the
same run until it completes. Then:

* every task's side effect happened;
* a task the store recorded as completed before a kill never runs again;
* the store says every task completed and every box is ticked, byte-exact;
* after each kill, no process of the killed run survives (the reaper's job),
  and no background child of a task ever got to write ``late.log``.

The seed is printed; set ``TASKEXEC_CRASH_SEED`` to replay a sequence.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import closing, suppress
from pathlib import Path

import pytest
from conftest import procs

import taskexec_nb
from taskexec_nb._procfs import descendants
from taskexec_nb.events import RunStatus
from taskexec_nb.run.reaper import Reaper
from taskexec_nb.store import StateStore

KILL_GRACE = 0.5
TRIALS = 20
BASE_SEED = int(os.environ.get("TASKEXEC_CRASH_SEED", "20261124"))
MAX_SEGMENTS = 8  # runner processes per trial, at most
MAX_KILLS = 3  # kills per trial, at most; later segments run to the end

# (ID, [P]?, seconds of work). Template mode: phases run in order, [P] tasks of a phase
# together, so with 2 workers the critical path is about 1.7 s of work.
TASKS = [
    ("T001", False, 0.1),
    ("T002", True, 0.2),
    ("T003", True, 0.1),
    ("T004", False, 0.1),
    ("T005", True, 0.3),
    ("T006", True, 0.2),
    ("T007", False, 0.1),
    ("T008", True, 0.1),
    ("T009", True, 0.6),
    ("T010", False, 0.1),
    ("T011", True, 0.2),
    ("T012", True, 0.1),
]
IDS = [t[0] for t in TASKS]
PHASES = [
    (1, "Setup"),
    (4, "Foundational"),
    (5, "User Story 1"),
    (8, "User Story 2"),
    (11, "Polish"),
]
EXPECTED_RUN = 1.9  # seconds a whole run takes, about (work plus start-up)
LATE_AFTER = KILL_GRACE + 2.0  # a surviving child writes late.log after the leftover check

RUNNER = (
    "import taskexec_nb,sys; taskexec_nb.load(sys.argv[1]).run(resume=(sys.argv[2] or None),"
    f" max_workers=2, kill_grace={KILL_GRACE})"
)


def tasks_md() -> str:
    lines = ["# Tasks: crash test"]
    starts = {first: (number, title) for number, (first, title) in enumerate(PHASES, 1)}
    for n, (task_id, parallel, work) in enumerate(TASKS, 1):
        if n in starts:
            lines += ["", "## Phase {}: {}".format(*starts[n]), ""]
        marker = " [P]" if parallel else ""
        lines += [
            f"- [ ] {task_id}{marker} Step {n}: work {work:g} s, then record the effect",
            "  ```bash",
            # A child that outlives the task (holding its output pipes) and the leftover
            # check's window: it only ever writes if nobody ends it.
            f"  ( sleep {LATE_AFTER:g}; echo {task_id} >> late.log ) &",
            f"  sleep {work:g}",
            f"  echo {task_id} >> effects.log",
            "  ```",
        ]
    return "\n".join(lines) + "\n"


# -- processes ----------------------------------------------------------------------------


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def leftovers(pgids: set[int], tasks_file: Path) -> list[str]:
    """Live processes in one of ``pgids``, or started for a task of ``tasks_file``.

    Zombies do not count: they run nothing (their parent, the killed runner, is gone).
    """
    marker = b"TASKEXEC_TASKS_FILE=" + str(tasks_file.resolve()).encode()
    found = []
    for pid, state, pgrp in procs():
        if state == "Z" or pid == os.getpid():
            continue
        if pgrp in pgids or marker in _environ(pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = "?"
            found.append(f"pid {pid} pgrp {pgrp} state {state}: {cmd.strip()}")
    return found


def wait_gone(pgids: set[int], tasks_file: Path, within: float, settle: float = 0.2) -> list[str]:
    """Poll until nothing is left for ``settle`` seconds (returns []) or ``within`` seconds pass.

    The quiet period catches a process that a dying runner forked but that had not
    exec'd the task yet (it does not look like a task's process for a moment).
    """
    deadline = time.monotonic() + within
    quiet_since: float | None = None
    while True:
        left = leftovers(pgids, tasks_file)
        now = time.monotonic()
        if left:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        if quiet_since is not None and now - quiet_since >= settle:
            return []
        if now >= deadline:
            return left
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    return any(pgrp == pgid and state != "Z" for _, state, pgrp in procs())


# -- the store and the files --------------------------------------------------------------


def store_of(folder: Path) -> StateStore:
    return StateStore(folder / ".taskexec" / "state.db")


def effect_counts(folder: Path) -> collections.Counter[str]:
    log = folder / "effects.log"
    return collections.Counter(log.read_text().split() if log.exists() else [])


def ticked(text: str) -> bytes:
    out = text
    for task_id in IDS:
        assert out.count(f"- [ ] {task_id} ") == 1
        out = out.replace(f"- [ ] {task_id} ", f"- [X] {task_id} ")
    return out.encode()


def start_runner(path: Path, run_id: str | None, errors: Path) -> subprocess.Popen[bytes]:
    with errors.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(path), run_id or ""],
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


# -- the crash test -----------------------------------------------------------------------


def kill_leftovers(tasks_file: Path) -> None:
    """End whatever a failed test left running (so it cannot disturb the next one)."""
    for line in leftovers(set(), tasks_file):
        with suppress(ProcessLookupError):
            os.kill(int(line.split()[1]), signal.SIGKILL)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_random_moments_then_resume(tmp_path: Path, trial: int) -> None:
    seed = BASE_SEED + trial
    print(f"crash trial {trial}: seed {seed} (TASKEXEC_CRASH_SEED={BASE_SEED})")
    try:
        crash_trial(tmp_path, seed)
    finally:
        kill_leftovers(tmp_path / "tasks.md")


def crash_trial(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    text = tasks_md()
    path = tmp_path / "tasks.md"
    path.write_text(text)
    errors = tmp_path / "runner.stderr"
    history: list[str] = []
    # One entry per kill: (completed tasks in the store, effect counts), right after it.
    after_kills: list[tuple[set[str], collections.Counter[str]]] = []
    run_id: str | None = None
    completed = False

    def context() -> str:
        stderr = errors.read_text() if errors.exists() else ""
        return f"seed {seed}, run {run_id}; history: {'; '.join(history)}; stderr: {stderr}"

    for segment in range(MAX_SEGMENTS):
        if segment == 0:
            # The first kill always lands while the run is going (it needs > 1.7 s).
            kill_at: float | None = rng.uniform(0.0, 1.7)
        elif len(after_kills) < MAX_KILLS and segment < MAX_SEGMENTS - 1 and rng.random() < 0.5:
            kill_at = rng.uniform(0.0, EXPECTED_RUN)
        else:
            kill_at = None
        proc = start_runner(path, run_id, errors)
        killed = False
        try:
            proc.wait(timeout=kill_at if kill_at is not None else 60)
        except subprocess.TimeoutExpired:
            if kill_at is None:
                proc.kill()
                proc.wait()
                pytest.fail(f"a runner did not finish within 60 s; {context()}")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            # The runner may have finished in the instant between the timeout and the kill.
            killed = proc.returncode != 0
        history.append(
            f"segment {segment}: " + (f"killed at {kill_at:.3f} s" if killed else "ran to the end")
        )

        with closing(store_of(tmp_path)) as store:
            if run_id is None:
                run_id = store.latest_run()
            attempts = store.attempts(run_id) if run_id else []
            statuses = {t["task_id"]: t["status"] for t in store.tasks(run_id)} if run_id else {}
            run_status = store.run(run_id)["status"] if run_id else None
        pgids = {a["pgid"] for a in attempts if a["pgid"]}

        if killed:
            assert proc.returncode == -signal.SIGKILL
            # The reaper ends every process group of the dead runner within the grace period.
            left = wait_gone(pgids, path, KILL_GRACE + 1.0)
            assert left == [], f"processes of the killed run survived: {left}; {context()}"
            done = {t for t, s in statuses.items() if s == "completed"}
            after_kills.append((done, effect_counts(tmp_path)))
            history[-1] += f" ({len(done)} completed in the store)"
            continue

        assert proc.returncode == 0, context()
        assert run_id is not None, context()
        assert run_status == "completed", context()
        completed = True
        break

    assert completed, f"no run completed in {MAX_SEGMENTS} runner processes; {context()}"
    assert after_kills, context()

    # Every effect happened; completed tasks never ran again after a kill.
    final = effect_counts(tmp_path)
    assert set(final) == set(IDS), context()
    assert all(final[t] >= 1 for t in IDS), context()
    for k, (done, counts) in enumerate(after_kills):
        rerun = {t: (counts[t], final[t]) for t in done if final[t] != counts[t]}
        assert rerun == {}, f"completed before kill {k} but ran again: {rerun}; {context()}"
    # A task runs again only if a kill caught it in flight: at most once per kill.
    assert all(final[t] <= 1 + len(after_kills) for t in IDS), (dict(final), context())

    # The store and the file agree that everything is done.
    with closing(store_of(tmp_path)) as store:
        assert run_id is not None
        assert store.run(run_id)["status"] == "completed", context()
        tasks = store.tasks(run_id)
        assert {t["task_id"]: t["status"] for t in tasks} == dict.fromkeys(IDS, "completed"), (
            context()
        )
        assert store.orphans() == [], context()
        assert [r["run_id"] for r in store.runs()] == [run_id]  # resumes continue the one run
    assert path.read_bytes() == ticked(text), context()

    # Nothing of the run is left, and no task's child ever outlived its task.
    assert wait_gone(pgids, path, KILL_GRACE + 1.0) == [], context()
    late = tmp_path / "late.log"
    assert not late.exists() or late.read_text() == "", (late.read_text(), context())


def test_tasks_md_is_what_the_crash_test_expects(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(tasks_md())
    plan = taskexec_nb.load(path)
    assert [t.id for t in plan.tasks] == IDS
    assert [t.parallel for t in plan.tasks] == [p for _, p, _ in TASKS]
    assert plan.to_run == tuple(IDS)
    assert max(len(w) for w in plan.waves) == 2
    assert len(plan.waves) == 8


# -- a runner killed around the tick of a finished task ----------------------------------

_KILL_AROUND_TICK = textwrap.dedent(
    """
    import os, signal, sys
    import taskexec_nb
    from taskexec_nb.run.writeback import CheckboxWriter

    original = CheckboxWriter.tick

    def tick(self, task_id, line, *rest):
        # T001 finished with exit code 0: die just before or just after its box is ticked.
        if task_id == "T001" and sys.argv[2] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, task_id, line, *rest)
        if task_id == "T001":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    CheckboxWriter.tick = tick
    taskexec_nb.load(sys.argv[1]).run(max_workers=1, kill_grace=0.5)
    """
)

_TWO_TASKS = textwrap.dedent(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 First
      - taskexec: run="echo T001 >> effects.log"
    - [ ] T002 Second
      - taskexec: run="echo T002 >> effects.log"
    """
)


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_the_tick_the_resume_makes_store_and_file_agree(
    tmp_path: Path, when: str
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(_TWO_TASKS)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AROUND_TICK, str(path), when],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert effect_counts(tmp_path) == {"T001": 1}
    assert path.read_text() == (
        _TWO_TASKS if when == "before" else _TWO_TASKS.replace("- [ ] T001", "- [X] T001")
    )
    with closing(store_of(tmp_path)) as store:
        run_id = store.latest_run()
    assert run_id is not None

    handle = taskexec_nb.load(path).run(resume=run_id, max_workers=1, kill_grace=0.5)
    assert handle.result is RunStatus.COMPLETED
    counts = effect_counts(tmp_path)
    assert counts["T002"] == 1 and counts["T001"] >= 1
    # Whatever the kill interrupted, the file and the store end up saying the same thing.
    assert path.read_text() == _TWO_TASKS.replace("- [ ]", "- [X]")
    with closing(store_of(tmp_path)) as store:
        statuses = {t["task_id"]: t["status"] for t in store.tasks(run_id)}
        assert statuses == {"T001": "completed", "T002": "completed"}
        assert store.run(run_id)["status"] == "completed"


# -- a runner killed between starting a task's process and registering it -----------------

_KILL_AFTER_SPAWN = textwrap.dedent(
    """
    import os, signal, sys
    import taskexec_nb
    from taskexec_nb.executors.base import ProcessControl

    def attach(self, pgid):
        # The task's process exists now; the runner dies before anyone is told about it.
        os.kill(os.getpid(), signal.SIGKILL)

    ProcessControl.attach = attach
    taskexec_nb.load(sys.argv[1]).run(max_workers=1, kill_grace=0.5)
    """
)


def test_a_runner_killed_right_after_spawning_a_task_leaves_no_process(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        textwrap.dedent(
            """\
            # Tasks

            - [ ] T001 Work for a while
              ```bash
              ( sleep 2; echo T001 >> late.log ) >/dev/null 2>&1 &
              sleep 1.8
              echo T001 >> effects.log
              ```
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_SPAWN, str(path)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    try:
        left = wait_gone(set(), path, KILL_GRACE + 1.0)
        assert left == [], f"the task's processes outlived the runner: {left}"
        assert not (tmp_path / "effects.log").exists()
    finally:
        kill_leftovers(path)


# -- no process outlives its task ---------------------------------------------------------


def test_a_background_child_holding_the_output_does_not_hold_up_the_task(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        textwrap.dedent(
            """\
            # Tasks

            - [ ] T001 Start a server in the background, then finish
              - taskexec: timeout=5s
              ```bash
              ( sleep 20; echo T001 >> late.log ) &
              sleep 0.1
              echo ready
              ```
            """
        )
    )
    started = time.monotonic()
    handle = taskexec_nb.load(path).run(max_workers=1, kill_grace=0.5)
    took = time.monotonic() - started
    try:
        row = handle.snapshot()[0]
        assert (row["status"], row["error"]) == ("completed", None)
        assert took < 3, f"the task took {took:.1f} s: it waited for its background child"
        assert wait_gone(set(), path, 1.0) == []  # the child went with its task
    finally:
        kill_leftovers(path)


_STILL_THERE = textwrap.dedent(
    """\
    ```python
    from pathlib import Path
    alive = []
    for name in ("daemon.pid", "kernel.pid"):
        if Path(name).exists():
            pid = Path(name).read_text().strip()
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                state = "gone"
            if state not in ("gone", "Z"):
                alive.append(name)
    Path("verdict").write_text(" ".join(alive) or "none alive")
    ```
    """
)


def _timed_out_then_checked(path: Path, first: str, timeout: str, made: list[str]) -> str:
    """Run a task that times out, then one that says which of its processes still run.

    ``made`` names the pid files the first task must have written by its timeout.
    """
    check = textwrap.indent(_STILL_THERE, "  ")
    path.write_text(
        f"# Tasks\n\n- [ ] T001 Leave a process behind\n  - taskexec: timeout={timeout}"
        f"{first}\n- [ ] T002 See what is left\n{check}"
    )
    handle = taskexec_nb.load(path, mode="explicit").run(max_workers=1, kill_grace=0.5)
    try:
        rows = {row["id"]: row["status"] for row in handle.snapshot()}
        assert rows == {"T001": "timed_out", "T002": "completed"}, handle.snapshot()
        for name in made:
            assert (path.parent / name).exists(), f"the task timed out before writing {name}"
        return (path.parent / "verdict").read_text()
    finally:
        kill_leftovers(path)


def test_a_timeout_ends_the_processes_the_task_moved_to_a_session_of_their_own(
    tmp_path: Path,
) -> None:
    first = "\n" + textwrap.indent(
        textwrap.dedent(
            """\
            ```bash
            setsid sleep 30 < /dev/null > /dev/null 2>&1 &
            echo $! > daemon.pid
            sleep 30
            ```
            """
        ),
        "  ",
    )
    verdict = _timed_out_then_checked(tmp_path / "tasks.md", first, "1s", ["daemon.pid"])
    assert verdict == "none alive"


def test_a_notebook_timeout_ends_its_kernel_and_what_its_cells_started(tmp_path: Path) -> None:
    from nbformat import write
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell(
                "import os, subprocess, time\n"
                "kid = subprocess.Popen(['sleep', '60'])\n"
                "open('daemon.pid', 'w').write(str(kid.pid))\n"
                "open('kernel.pid', 'w').write(str(os.getpid()))\n"
                "time.sleep(60)"
            )
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    write(nb, str(tmp_path / "hang.ipynb"))
    # A kernel takes seconds to start: the timeout leaves it time to run the cell.
    verdict = _timed_out_then_checked(
        tmp_path / "tasks.md", " notebook=hang.ipynb\n", "10s", ["kernel.pid", "daemon.pid"]
    )
    assert verdict == "none alive"


# -- the reaper on its own ----------------------------------------------------------------

_REAPER_OWNER = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    from taskexec_nb.run.reaper import Reaper

    reaper = Reaper(float(sys.argv[1]))
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
    watched = subprocess.Popen(["sh", "-c", sys.argv[2]], **quiet)
    released = subprocess.Popen(["sleep", "30"], **quiet)
    reaper.add(watched.pid)
    reaper.add(released.pid)
    reaper.remove(released.pid)  # ended normally, as far as the reaper knows
    print(watched.pid, released.pid, reaper.pid, flush=True)
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGKILL)  # the runner dies; the reaper's pipe closes
    """
)


def _owner(grace: float, command: str) -> tuple[subprocess.Popen[str], int, int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _REAPER_OWNER, str(grace), command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    watched, released, reaper = (int(x) for x in proc.stdout.readline().split())
    return proc, watched, released, reaper


def _kill_owner(proc: subprocess.Popen[str]) -> float:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return time.monotonic()


@pytest.mark.parametrize("grace", [0.2, 1.0])
def test_reaper_ends_the_groups_of_a_killed_owner(grace: float) -> None:
    proc, watched, released, reaper = _owner(grace, "sleep 30 & sleep 30; wait")
    try:
        assert _group_alive(watched) and _group_alive(released)
        killed = _kill_owner(proc)
        while _group_alive(watched) and time.monotonic() < killed + grace + 1.0:
            time.sleep(0.02)
        assert not _group_alive(watched), "the reaper did not end the watched group"
        # A group the runner said had ended is left alone.
        assert _group_alive(released)
        # The reaper exits once its work is done.
        while any(p == reaper and s != "Z" for p, s, _ in procs()):
            assert time.monotonic() < killed + grace + 2.0, "the reaper did not exit"
            time.sleep(0.02)
    finally:
        for pgid in (watched, released):
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def test_reaper_sigkills_a_group_that_ignores_sigterm_after_the_grace() -> None:
    grace = 1.0
    proc, watched, released, _ = _owner(grace, "trap '' TERM; sleep 30 & sleep 30; wait")
    try:
        time.sleep(0.1)  # let the shell set its trap up
        killed = _kill_owner(proc)
        time.sleep(0.4)
        assert _group_alive(watched), "SIGTERM is ignored: the group must live out the grace"
        while _group_alive(watched) and time.monotonic() < killed + grace + 1.0:
            time.sleep(0.02)
        assert not _group_alive(watched), "the reaper did not SIGKILL the group after the grace"
    finally:
        for pgid in (watched, released):
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sleep", "30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_reaper_closed_normally_ends_only_groups_still_watched() -> None:
    kept, ended = _sleeper(), _sleeper()
    try:
        reaper = Reaper(0.2)
        reaper.add(kept.pid)
        reaper.add(ended.pid)
        reaper.remove(kept.pid)
        reaper.close()
        assert ended.wait(timeout=5) == -signal.SIGTERM
        assert kept.poll() is None
    finally:
        for p in (kept, ended):
            p.kill()
            p.wait()


# -- after the runner and its watchdog both died ------------------------------------------


def _marked_sleeper(run_id: str, runner_token: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TASKEXEC_RUN_ID": run_id, "TASKEXEC_RUNNER": runner_token}
    return subprocess.Popen(
        ["sleep", "30"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_end_marked_ends_only_processes_of_the_given_runs_whose_runner_is_gone() -> None:
    dead_runner = f"{_dead_pid()}-0a0b0c"
    orphan = _marked_sleeper("R-dead", dead_runner)
    other_run = _marked_sleeper("R-other", dead_runner)
    live_runner = _marked_sleeper("R-dead", f"{os.getpid()}-0d0e0f")  # resumed by a live runner
    try:
        from taskexec_nb._procfs import end_marked

        assert end_marked(set()) == {}
        assert end_marked({"R-dead"}) == {"R-dead": 1}
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert other_run.poll() is None, "a run not named was touched"
        assert live_runner.poll() is None, "a process of a live runner was touched"
    finally:
        for p in (orphan, other_run, live_runner):
            p.kill()
            p.wait()


_DETACHING_TASK = textwrap.dedent(
    """\
    # Tasks

    - [ ] T001 Start a daemon, then work
      ```python
      import os, subprocess, sys, time
      if os.path.exists("daemon.pid"):
          sys.exit(0)  # the resume: done
      daemon = subprocess.Popen(
          [sys.executable, "-c", "import time; time.sleep(60); open('late.log', 'w')"],
          start_new_session=True,
      )
      with open("daemon.pid.tmp", "w") as f:
          f.write(str(daemon.pid))
      os.replace("daemon.pid.tmp", "daemon.pid")
      time.sleep(60)
      ```
    """
)


def test_a_resume_after_runner_and_watchdog_died_ends_a_detached_process(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(_DETACHING_TASK)
    errors = tmp_path / "errors.txt"
    runner = start_runner(path, None, errors)
    daemon = 0
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "daemon.pid").exists():
            assert runner.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the task never started its daemon"
            time.sleep(0.02)
        daemon = int((tmp_path / "daemon.pid").read_text())
        watchdogs = [
            pid
            for pid in descendants([runner.pid])[1:]
            if b"TASKEXEC_RUNNER" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(watchdogs) == 1
        os.kill(watchdogs[0], signal.SIGKILL)  # the watchdog first: it would end the daemon
        time.sleep(0.1)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        time.sleep(0.3)
        assert any(pid == daemon and state != "Z" for pid, state, _ in procs())

        handle = taskexec_nb.load(path).run(resume=True, max_workers=1, kill_grace=0.5)

        assert any("outside its recorded process groups" in n for n in handle.notices), (
            handle.notices
        )
        until = time.monotonic() + 5
        while any(pid == daemon and state != "Z" for pid, state, _ in procs()):
            assert time.monotonic() < until, "the detached process of the killed run lives on"
            time.sleep(0.02)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        kill_leftovers(path)
        if daemon:
            with suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGKILL)
