"""The run dashboard: its state during a real run, its buttons, its static fallback, in a kernel."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import md
from helpers import Kernel, counts, wait_until, write_tasks

import taskexec_nb
from taskexec_nb.jupyter import runsummary as summary
from taskexec_nb.jupyter.dashboard import CONTROLS_NOTE, WIDGET_VIEW, Dashboard, in_kernel
from taskexec_nb.run.handle import RunHandle
from taskexec_nb.run.launch import RunRequest, start_run
from taskexec_nb.run.rows import RunSnapshot, TaskRow

# T001 talks and waits for a file; T002 fails until `fixed` exists; T003 waits for T002.
LIVE = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 [P] Talk then wait
      ~~~bash
      echo step one
      echo step two
      for i in $(seq 300); do test -e go && break; sleep 0.05; done
      echo T001 >> count.txt
      ~~~
    - [ ] T002 [P] [US1] Fail until fixed
      ~~~bash
      echo oops-T002 >&2
      test -e fixed || exit 3
      echo T002 >> count.txt
      ~~~

    ## Phase 2: Story

    - [ ] T003 [US1] After the failure (depends on T002)
      ~~~bash
      echo T003 >> count.txt
      ~~~
    """
)

# Four tasks one after another, each waiting for its own file.
GATED = md(
    """\
    # Tasks

    ## Phase 1: One by one

    - [ ] T001 First
      ~~~bash
      echo T001 >> count.txt
      for i in $(seq 600); do test -e go1 && break; sleep 0.05; done
      ~~~
    - [ ] T002 Second (depends on T001)
      ~~~bash
      echo T002 >> count.txt
      for i in $(seq 600); do test -e go2 && break; sleep 0.05; done
      ~~~
    - [ ] T003 Third (depends on T002)
      ~~~bash
      echo T003 >> count.txt
      ~~~
    """
)


def start(tmp_path: Path, text: str, **overrides: Any) -> RunHandle:
    """A run of ``text`` on a worker thread (as a notebook's loop would run it)."""
    plan = taskexec_nb.load(write_tasks(tmp_path, text))
    settings = {"writeback": False, "max_workers": 2, **overrides}
    return start_run(RunRequest(plan, overrides=settings, start="thread"))


def status_of(dash: Dashboard) -> str:
    found = re.search(r"class='te-status'[^>]*>([^<]*)<", dash.header.value)
    assert found, dash.header.value
    return found.group(1)


def enabled(dash: Dashboard) -> set[str]:
    return {name for name, button in dash.buttons.items() if not button.disabled}


def redrawn(dash: Dashboard, check: Any, timeout: float = 10.0) -> bool:
    """Wait until the dashboard, as its timer redraws it, satisfies ``check``."""
    return wait_until(lambda: check(dash), timeout)


def finish(handle: RunHandle) -> None:
    """Cancel the run if it goes on (again until it has started: a cancel before is lost)."""
    deadline = time.monotonic() + 30
    while not handle.done and time.monotonic() < deadline:
        handle.cancel()
        handle.join(0.2)
    assert handle.done


# --- the state while a real run goes on ------------------------------------------------------


def test_the_dashboard_shows_a_real_run_as_it_goes(tmp_path: Path) -> None:
    handle = start(tmp_path, LIVE)
    dash = handle.dashboard()
    try:
        assert handle.dashboard() is dash  # one per run
        # T001 runs and says its last line; T002 failed with its tail; T003 skipped.
        assert redrawn(dash, lambda d: "step two" in d.running.value), dash.running.value
        assert redrawn(
            dash, lambda d: "0/3 done · 1 failed · 1 skipped · 1 running" in d.header.value
        )
        assert redrawn(dash, lambda d: "oops-T002" in d.failures.value)  # drawn last
        assert status_of(dash) == "state: running"
        assert "Running now (1)" in dash.running.value
        assert re.search(
            r"<th scope='row'>T001</th><td>running</td><td>\d+:\d\d</td>", dash.running.value
        )
        assert "exit code 3" in dash.failures.value and "oops-T002" in dash.failures.value
        assert "log: <code>" in dash.failures.value
        header = dash.header.value
        assert "ETA " in header and "elapsed 0:" in header
        assert "aria-label='Run progress: 0 of 3 tasks done'" in header
        # Per phase and per story, in words.
        groups = dash.groups.value
        assert "Phase 1: Setup</th>" in groups and "0/2 done: 1 running, 1 failed" in groups
        assert "Phase 2: Story</th>" in groups and "0/1 done: 1 skipped" in groups
        assert "<caption>Progress by story</caption>" in groups and "US1</th>" in groups
        assert redrawn(dash, lambda d: enabled(d) == {"pause", "cancel"})
        # The timer redraws (the elapsed time goes on), from the run's live model.
        draws = dash.draws
        assert redrawn(dash, lambda d: d.draws >= draws + 2, 5)
        (tmp_path / "go").touch()
        assert handle.join(30) is not None
        assert redrawn(dash, lambda d: status_of(d) == "state: failed")
        assert redrawn(dash, lambda d: d.running.value == "")
        assert "1/3 done · 1 failed · 1 skipped · elapsed" in dash.header.value
        assert "ETA" not in dash.header.value
        assert redrawn(dash, lambda d: enabled(d) == {"retry"})
    finally:
        (tmp_path / "go").touch()
        finish(handle)


def test_pause_resume_and_cancel_buttons_reach_the_scheduler_within_200_ms(
    tmp_path: Path,
) -> None:
    handle = start(tmp_path, GATED)
    dash = handle.dashboard()
    try:
        assert wait_until(lambda: counts(tmp_path) == ["T001"], 10)
        assert redrawn(dash, lambda d: enabled(d) == {"pause", "cancel"})
        clicked = time.perf_counter()
        dash.buttons["pause"].click()
        assert wait_until(lambda: handle.paused, 1)
        assert time.perf_counter() - clicked < 0.2
        assert redrawn(dash, lambda d: status_of(d) == "state: paused")
        assert redrawn(dash, lambda d: enabled(d) == {"resume", "cancel"})
        assert "pause sent" in dash.notice.value
        # Paused: T001 ends, T002 does not start.
        (tmp_path / "go1").touch()
        assert redrawn(dash, lambda d: "1/3 done" in d.header.value)
        time.sleep(0.5)
        assert counts(tmp_path) == ["T001"]
        clicked = time.perf_counter()
        dash.buttons["resume"].click()
        assert wait_until(lambda: not handle.paused, 1)
        assert time.perf_counter() - clicked < 0.2
        assert wait_until(lambda: counts(tmp_path) == ["T001", "T002"], 10)
        assert redrawn(dash, lambda d: status_of(d) == "state: running")
        dash.buttons["cancel"].click()
        assert handle.join(10) is not None
        assert handle.result is not None and handle.result.value == "cancelled"
        assert redrawn(dash, lambda d: status_of(d) == "state: cancelled")
        assert counts(tmp_path) == ["T001", "T002"]  # T003 never started
        assert redrawn(dash, lambda d: enabled(d) == set())  # nothing failed: nothing to retry
    finally:
        finish(handle)


def test_retry_failed_resumes_the_run_and_the_dashboard_follows_it(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    handle = start(tmp_path, LIVE)
    dash = handle.dashboard()
    assert handle.join(30) is not None
    assert redrawn(dash, lambda d: enabled(d) == {"retry"})
    assert sorted(counts(tmp_path)) == ["T001"]
    (tmp_path / "fixed").touch()
    dash.buttons["retry"].click()
    new = dash.handle
    try:
        assert new is not handle and new.run_id == handle.run_id and new.resumed
        assert new.dashboard() is dash
        assert new.join(30) is not None
        assert new.result is not None and new.result.value == "completed"
        assert redrawn(dash, lambda d: "state: completed" in d.header.value)
        assert "3/3 done · 0 failed · 0 skipped" in dash.header.value
        assert "retrying the failed tasks" in dash.notice.value
        # Only what had not completed ran again.
        assert sorted(counts(tmp_path)) == ["T001", "T002", "T003"]
        assert redrawn(dash, lambda d: enabled(d) == set())
    finally:
        finish(new)


def test_retry_of_a_run_that_cannot_be_resumed_says_why(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    handle = start(tmp_path, LIVE)
    dash = handle.dashboard()
    assert handle.join(30) is not None
    shutil.rmtree(tmp_path / ".taskexec")  # the run's record is gone
    assert dash.retry() is None
    assert dash.handle is handle
    assert dash.message.startswith("retry not started: ")
    assert "no state store at" in dash.message


def test_retry_of_a_run_still_going_is_refused(tmp_path: Path) -> None:
    handle = start(tmp_path, GATED)
    dash = handle.dashboard()
    try:
        assert dash.retry() is None
        assert dash.message == f"retry not started: run {handle.run_id} is still going"
        assert dash.handle is handle
    finally:
        finish(handle)


# --- figures ---------------------------------------------------------------------------------


def test_the_gantt_and_dag_tabs_are_live_figures_updated_in_place(tmp_path: Path) -> None:
    handle = start(tmp_path, LIVE)
    dash = handle.dashboard()
    try:
        assert redrawn(dash, lambda d: "step two" in d.running.value)
        assert dash.tabs is not None
        assert list(dash.tabs.titles) == ["Overview", "Timeline", "Dependencies"]
        dash.tabs.selected_index = 1  # drawn at once
        gantt = dash.figure(1)
        assert dash.tabs.children[1].children[1] is gantt
        assert "te-figure" in gantt._dom_classes
        names = {t.name for t in gantt.data}
        assert {"running", "failed"} <= names
        caption = dash._captions[1].value
        assert "Timeline of 2 attempts of 3 tasks" in caption  # T003 never started
        assert "1 never started: 1 skipped" in caption
        assert f"Timeline of run {handle.run_id}" == gantt.layout.title.text
        assert gantt.tooltip is None  # the front end would fail on it (no description)
        panel = dash.tabs.children[1]
        assert "te-figure-panel" in panel._dom_classes
        label = panel.children[2]
        assert label.label in caption and label.label.startswith("Timeline of 2 attempts")
        assert "aria-label" in label._esm and ".te-figure-panel" in label._esm
        (tmp_path / "go").touch()
        assert handle.join(30) is not None
        assert redrawn(dash, lambda d: "completed" in {t.name for t in d.figure(1).data})
        assert dash.figure(1) is gantt  # the same widget, updated in place
        dash.tabs.selected_index = 2
        graph = dash.figure(2)
        assert {"completed", "failed", "skipped"} <= {t.name for t in graph.data}
        assert "Dependency graph of 3 tasks" in dash._captions[2].value
        assert graph.layout.title.text == f"Dependencies of run {handle.run_id}"
    finally:
        (tmp_path / "go").touch()
        finish(handle)


# --- what stays in a notebook without widgets -------------------------------------------------


def test_the_display_carries_a_static_summary_next_to_the_widget(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    handle = start(tmp_path, LIVE)
    assert handle.join(30) is not None
    dash = handle.dashboard()
    bundle = dash._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == dash.widget.model_id
    assert (
        bundle["text/plain"] == f"Run {handle.run_id}: " + summary.overview(dash.snapshot()).text()
    )
    page = bundle["text/html"]
    assert page.startswith("<section class='te-dashboard te-static'")
    assert "<p class='te-status' role='status'>state: failed</p>" in page
    assert "1/3 done · 1 failed · 1 skipped" in page
    assert "exit code 3" in page and "oops-T002" in page
    # The static figure: an SVG with an accessible name, a caption, counts in words.
    assert "<svg " in page and "role='img'" in page
    figure = re.search(r"<figure class='te-figure te-static-figure' aria-label='([^']+)'", page)
    assert figure and "Progress by phase: 1 of 3 tasks done" in figure.group(1)
    assert "<figcaption>" in page and "Phase 1: Setup 1/2 done: 1 completed, 1 failed" in page
    assert "running" not in page.split("<figure")[0].lower().replace("state: failed", "")


def test_the_summary_says_status_in_words_and_escapes_what_tasks_print() -> None:
    rows = (
        TaskRow("T001", "Phase 1", None, "a <b>", "completed", start=0.0, end=10.0),
        TaskRow("T002", "Phase 1", "US1", "b", "running", start=5.0, last_line="<script>x"),
        TaskRow("T003", "Phase 2", "US1", "c", "pending"),
        TaskRow("T004", "Phase 2", None, "d", "pending"),
    )
    snap = RunSnapshot("r1", "running", 0.0, None, 3, rows, (), ("a <notice>",))
    ov = summary.overview(snap, now=20.0)
    assert (ov.done, ov.total, ov.running, ov.elapsed) == (1, 4, 1, 20.0)
    assert ov.eta == 60.0  # 20 s for 1 task done, 3 to go
    assert ov.text() == (
        "state: running · 1/4 done · 0 failed · 0 skipped · 1 running · elapsed 0:20 · ETA 1:00"
    )
    page = summary.summary_html(snap, now=20.0)
    assert "<script>" not in page and "&lt;script&gt;x" in page
    assert "a &lt;notice&gt;" in page
    assert "Running now (1)" in page and "<td>0:15</td>" in page
    assert [g.text() for g in summary.groups(rows, "story")] == [
        "1/2 done: 1 completed, 1 pending",
        "0/2 done: 1 running, 1 pending",
    ]
    # A failed or skipped task is not done, but counts as finished for the ETA.
    ended = (*rows[:3], TaskRow("T004", "Phase 2", None, "d", "failed", start=6.0, end=7.0))
    ov = summary.overview(RunSnapshot("r1", "running", 0.0, None, 3, ended, (), ()), now=20.0)
    assert (ov.done, ov.failed, ov.eta) == (1, 1, 20.0)  # 20 s for 2 finished, 2 to go
    assert summary.clock(3725) == "1:02:05"
    with pytest.raises(ValueError, match="'phase' or 'story'"):
        summary.groups(rows, "owner")
    # Not started: no ETA, no elapsed time.
    idle = summary.overview(RunSnapshot(None, "pending", None, None, 0, rows[2:], (), ()))
    assert idle.eta is None and idle.elapsed == 0.0 and "ETA unknown" in idle.text()
    assert (
        summary.groups_html(RunSnapshot(None, "pending", None, None, 0, rows[3:], (), ()), "story")
        == ""
    )


# --- outside a kernel nothing changes ------------------------------------------------------------


def test_outside_a_kernel_a_blocking_run_shows_nothing_and_a_handle_displays_its_repr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not in_kernel()
    (tmp_path / "go").touch()
    (tmp_path / "fixed").touch()
    plan = taskexec_nb.load(write_tasks(tmp_path, LIVE))
    handle = plan.run(writeback=False)
    assert handle._dashboard is None
    assert capsys.readouterr().out == ""
    from IPython.display import display

    display(handle)
    assert capsys.readouterr().out.strip() == repr(handle)
    assert handle._dashboard is None


def test_importing_the_package_loads_no_widget_library() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import taskexec_nb"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert not loaded & {"ipywidgets", "IPython", "anywidget", "plotly", "pandas"}


# --- in a real kernel ----------------------------------------------------------------------------


def comm_states(outputs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The widget states sent in ``comm_open`` and ``comm_msg`` messages, in order."""
    found = []
    for kind, content in outputs:
        if kind in ("comm_open", "comm_msg"):
            state = content.get("data", {}).get("state")
            if state:
                found.append(state)
    return found


@pytest.fixture
def kernel(tmp_path: Path) -> Any:
    k = Kernel(tmp_path)
    try:
        yield k
    finally:
        k.close()


def test_in_a_kernel_a_run_displays_as_the_live_dashboard(kernel: Kernel, tmp_path: Path) -> None:
    write_tasks(tmp_path, LIVE)
    (tmp_path / "fixed").touch()
    started = kernel.run(
        "import taskexec_nb\nplan = taskexec_nb.load('tasks.md')\n"
        "run = await plan.arun(writeback=False)"
    )
    assert started.ok, started
    shown = kernel.run("run")
    assert shown.ok, shown
    (bundle,) = shown.bundles
    assert WIDGET_VIEW in bundle and "text/html" in bundle
    assert "<section class='te-dashboard te-static'" in bundle["text/html"]
    assert "state: running" in bundle["text/html"]
    buttons = {
        s.get("description")
        for s in comm_states(shown.outputs)
        if s.get("_model_name") == "ButtonModel"
    }
    assert buttons == {"Pause", "Resume", "Cancel", "Retry failed"}
    # The dashboard redraws while the cell awaits the run, and its static part gets the end.
    waited = kernel.run("import pathlib\npathlib.Path('go').touch()\nawait run")
    assert waited.ok, waited
    values = [s.get("value", "") for s in comm_states(waited.outputs)]
    assert any("state: completed" in v for v in values), values
    updates = [c for t, c in waited.outputs if t == "update_display_data"]
    assert updates and "state: completed" in updates[-1]["data"]["text/html"]
    (displayed,) = [c for t, c in shown.outputs if t == "display_data"]
    assert updates[-1]["transient"]["display_id"] == displayed["transient"]["display_id"]
    assert updates[-1]["data"]["text/plain"].startswith(
        f"Run {kernel.value('run.run_id')}: state: completed"
    )
    assert kernel.value("run.result.value") == "completed"


def test_done_counts_completed_tasks_as_run_progress_and_the_report_do(
    kernel: Kernel, tmp_path: Path
) -> None:
    # T002 fails and T003, after it, is skipped: 1 task of 3 is done, as run.progress()
    # and the report's figure say; the run's end is not "3/3 done".
    write_tasks(tmp_path, LIVE)
    (tmp_path / "go").touch()
    assert kernel.run("%load_ext taskexec_nb").ok
    assert kernel.run("%load_tasks tasks.md --no-dag").ok
    started = kernel.run("%run_tasks --no-writeback")
    assert started.ok, started
    waited = kernel.run("await run")
    assert waited.ok, waited
    assert kernel.value("int(run.progress()['done'].sum())") == 1
    header = kernel.value("run.dashboard().header.value")
    assert "1/3 done · 1 failed · 1 skipped · elapsed" in header, header
    assert "aria-label='Run progress: 1 of 3 tasks done'" in header
    groups = kernel.value("run.dashboard().groups.value")
    assert "1/2 done: 1 completed, 1 failed" in groups and "0/1 done: 1 skipped" in groups
    updates = [c for t, c in waited.outputs if t == "update_display_data"]
    page = updates[-1]["data"]["text/html"]
    assert "1/3 done · 1 failed · 1 skipped" in page
    assert "Progress by phase: 1 of 3 tasks done" in page
    assert updates[-1]["data"]["text/plain"].endswith(
        "state: failed · 1/3 done · 1 failed · 1 skipped · elapsed 0:00"
    )


def test_a_blocking_run_in_a_kernel_shows_progress_without_buttons(
    kernel: Kernel, tmp_path: Path
) -> None:
    write_tasks(tmp_path, LIVE)
    (tmp_path / "go").touch()
    done = kernel.run(
        "import taskexec_nb\nplan = taskexec_nb.load('tasks.md')\n"
        "handle = plan.run(writeback=False)"
    )
    assert done.ok, done
    (bundle,) = done.bundles
    assert WIDGET_VIEW in bundle
    assert CONTROLS_NOTE.split(":")[0] in bundle["text/html"]
    assert "%run_tasks" in bundle["text/html"] and "await plan.arun()" in bundle["text/html"]
    states = comm_states(done.outputs)
    assert not [s for s in states if s.get("_model_name") == "ButtonModel"]
    updates = [c for t, c in done.outputs if t == "update_display_data"]
    assert updates and "state: failed" in updates[-1]["data"]["text/html"]
    assert any("state: failed" in s.get("value", "") for s in states)


def test_interrupting_the_kernel_while_awaiting_a_run_stops_it_resumably(
    kernel: Kernel, tmp_path: Path
) -> None:
    write_tasks(
        tmp_path,
        md(
            """\
            ## Phase 1: Slow

            - [ ] T001 Slow unless told
              ~~~bash
              echo T001 >> count.txt
              test -e go || sleep 60
              ~~~
            - [ ] T002 After (depends on T001)
              ~~~bash
              echo T002 >> count.txt
              ~~~
            """
        ),
    )
    started = kernel.run(
        "import taskexec_nb\nplan = taskexec_nb.load('tasks.md')\n"
        "run = await plan.arun(writeback=False)"
    )
    assert started.ok, started
    assert wait_until(lambda: counts(tmp_path) == ["T001"], 30)
    msg_id = kernel.client.execute("await run")
    time.sleep(0.5)
    interrupted = time.monotonic()
    kernel.manager.interrupt_kernel()
    error = None
    while True:
        msg = kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            error = msg["content"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert time.monotonic() - interrupted < 10  # not the 60 s the task would sleep
    assert error is not None
    assert error["ename"] == "CancelledError"
    run_id = kernel.value("run.run_id")
    assert error["evalue"] == (
        f"run {run_id} interrupted: its running tasks were stopped and its state saved; "
        f"resume it with plan.arun(resume={run_id!r})"
    )
    assert kernel.value("run.result.value") == "interrupted"
    # Saved and resumable: the resume runs what did not complete.
    (tmp_path / "go").touch()
    resumed = kernel.run(
        f"again = await plan.arun(resume={run_id!r}, writeback=False)\nawait again"
    )
    assert resumed.ok, resumed
    assert kernel.value("again.result.value") == "completed"
    assert counts(tmp_path) == ["T001", "T001", "T002"]


def test_retry_on_the_event_loop_starts_the_resumed_run_there(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    plan = taskexec_nb.load(write_tasks(tmp_path, LIVE))

    async def body() -> None:
        run = await plan.arun(writeback=False)
        assert (await run).value == "failed"
        dash = run.dashboard()
        (tmp_path / "fixed").touch()
        dash.buttons["retry"].click()  # as a kernel runs a click: on its loop
        assert dash._starting is not None
        await dash._starting  # the dashboard shows the resumed run once it has started
        again = dash.handle
        assert again is not run and again.run_id == run.run_id
        assert (await again).value == "completed"
        assert dash.message == f"retrying the failed tasks of run {run.run_id}"

    asyncio.run(asyncio.wait_for(body(), 60))
    assert sorted(counts(tmp_path)) == ["T001", "T002", "T003"]


def click(kernel: Kernel, comm_id: str) -> None:
    """Click a button as a front end does: a ``click`` event on the button's comm."""
    client = kernel.client
    message = client.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}},
    )
    client.shell_channel.send(message)


def test_in_a_kernel_the_buttons_take_a_front_end_s_clicks(kernel: Kernel, tmp_path: Path) -> None:
    write_tasks(tmp_path, GATED)
    started = kernel.run(
        "import taskexec_nb\nplan = taskexec_nb.load('tasks.md')\n"
        "run = await plan.arun(writeback=False)"
    )
    assert started.ok, started
    assert wait_until(lambda: counts(tmp_path) == ["T001"], 30)
    shown = kernel.run("run")
    buttons = {}
    for kind, content in shown.outputs:
        state = content.get("data", {}).get("state", {}) if kind == "comm_open" else {}
        if state.get("_model_name") == "ButtonModel":
            buttons[state["description"]] = content["comm_id"]
    assert set(buttons) == {"Pause", "Resume", "Cancel", "Retry failed"}
    click(kernel, buttons["Pause"])
    assert wait_until(lambda: kernel.value("run.paused"), 10)
    (tmp_path / "go1").touch()
    assert wait_until(lambda: "1/3 done" in kernel.value("run.dashboard().header.value"), 10)
    assert "state: paused" in kernel.value("run.dashboard().header.value")
    assert counts(tmp_path) == ["T001"]  # paused: T002 does not start
    click(kernel, buttons["Resume"])
    assert wait_until(lambda: counts(tmp_path) == ["T001", "T002"], 10)
    click(kernel, buttons["Cancel"])
    assert wait_until(lambda: kernel.value("run.done"), 30)
    assert kernel.value("run.result.value") == "cancelled"


def test_a_notebook_run_by_papermill_keeps_the_final_static_summary(tmp_path: Path) -> None:
    import nbformat
    import papermill

    write_tasks(tmp_path, LIVE)
    (tmp_path / "go").touch()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import taskexec_nb\nplan = taskexec_nb.load('tasks.md')\n"
            "run = await plan.arun(writeback=False)\nrun"
        ),
        nbformat.v4.new_code_cell("await run"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        cwd=str(tmp_path),
        progress_bar=False,
    )
    done = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    (shown,) = [o for o in done.cells[0].outputs if o.output_type == "display_data"]
    # What a viewer without widgets shows: the run's end, not its start.
    page = shown.data["text/html"]
    assert "<p class='te-status' role='status'>state: failed</p>" in page
    assert "1/3 done · 1 failed · 1 skipped" in page and "oops-T002" in page
    assert "<svg " in page and "<figcaption>" in page
    assert "state: failed · 1/3 done" in shown.data["text/plain"]
    assert WIDGET_VIEW in shown.data


def test_a_notebook_whose_last_cell_awaits_the_run_keeps_its_end(tmp_path: Path) -> None:
    # %run_tasks shows the dashboard; the last cell awaits the run. The end must go out
    # with that cell: papermill drops what comes after the last cell.
    import nbformat
    import papermill

    write_tasks(tmp_path, LIVE)
    (tmp_path / "go").touch()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext taskexec_nb\n%load_tasks tasks.md --no-dag"),
        nbformat.v4.new_code_cell("%run_tasks --no-writeback"),
        nbformat.v4.new_code_cell("await run"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        cwd=str(tmp_path),
        progress_bar=False,
    )
    done = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    (shown,) = [o for o in done.cells[1].outputs if o.output_type == "display_data"]
    assert "state: failed · 1/3 done · 1 failed · 1 skipped" in shown.data["text/plain"]
    page = shown.data["text/html"]
    assert "<p class='te-status' role='status'>state: failed</p>" in page and "oops-T002" in page


def test_an_incomplete_run_shows_its_end(kernel: Kernel, tmp_path: Path) -> None:
    # T002 has no action: skipped, the run ends incomplete; the dashboard says it ended.
    write_tasks(
        tmp_path,
        md(
            """\
            ## Phase 1: Half

            - [ ] T001 Has an action
              - taskexec: run="true"
            - [ ] T002 Has none
            """
        ),
    )
    assert kernel.run("%load_ext taskexec_nb").ok
    assert kernel.run("%load_tasks tasks.md --no-dag").ok
    started = kernel.run("%run_tasks --no-writeback")
    assert started.ok, started
    waited = kernel.run("await run")
    assert waited.ok and waited.result == "<RunStatus.INCOMPLETE: 'incomplete'>", waited
    updates = [c for t, c in waited.outputs if t == "update_display_data"]
    assert updates, waited.outputs
    assert updates[-1]["data"]["text/plain"].endswith(
        "state: incomplete · 1/2 done · 0 failed · 1 skipped · elapsed 0:00"
    )
    assert "ETA" not in kernel.value("run.dashboard().header.value")
