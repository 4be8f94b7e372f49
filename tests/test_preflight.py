"""Pre-flight checks: what a run refuses before anything runs (resources, agent, kernels)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import line_of
from helpers import (
    MARK,
    block,
    linux_only,
    notebook_project,
    opened_store,
    ran,
    run_async,
    write_md,
)

import taskexec_nb
from taskexec_nb import UsageError


@linux_only
def test_a_task_needing_more_than_exists_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    text = f"- [ ] T001 Harmless\n{MARK}- [ ] T002 Train big\n  - taskexec: needs=gpu:2\n{MARK}"
    path = write_md(tmp_path, text)
    plan = taskexec_nb.load(path)
    line = line_of(text, "needs=gpu:2")
    with pytest.raises(UsageError) as info:
        plan.run(resources={"gpu": 1}, state_dir=tmp_path / "state")
    message = str(info.value)
    assert "T002" in message and "gpu" in message
    assert f"{path}:{line}" in message
    assert "T001" not in message
    with pytest.raises(UsageError, match="T002 needs gpu=2 but the run has gpu=0"):
        plan.run(state_dir=tmp_path / "state")

    async def main() -> None:
        with pytest.raises(UsageError, match="gpu"):
            await plan.arun(resources={"gpu": 1}, state_dir=tmp_path / "state")

    run_async(main)
    assert ran(tmp_path) == set()


NO_ACTION = f"""## Phase 1: Think, then do

- [ ] T001 Think about the design of the parser
- [ ] T002 Then write notes.txt
{block("echo done > notes.txt")}"""


@linux_only
def test_no_action_agent_without_a_command_is_refused_before_running(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, NO_ACTION))
    with pytest.raises(UsageError, match=r"no agent_command is set, but .* no_action=agent"):
        plan.run(no_action="agent", state_dir=tmp_path / "state")
    with opened_store(tmp_path) as store:
        assert store.runs() == []  # refused before a run was recorded


def test_no_action_agent_without_a_command_gives_the_working_agent_example(
    tmp_path: Path,
) -> None:
    import shlex

    from taskexec_nb.agentcmd import AGENT_EXAMPLE

    one = write_md(tmp_path, "- [ ] T001 Decide the file layout\n")
    with pytest.raises(UsageError) as info:
        taskexec_nb.load(one).run(no_action="agent", state_dir=tmp_path / "state")
    message = str(info.value)
    assert "T001 has no action and no_action=agent" in message
    # The example is the one the hint before a run gives: a real agent's command line,
    # as a flag and as a taskexec.toml line, not a made-up program.
    flag = message.split("--agent-command ", 1)[1].split("'", 2)[1]
    assert shlex.split(flag) == list(AGENT_EXAMPLE)
    assert "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]" in message
    assert "my-agent" not in message
    two = tmp_path / "two"
    two.mkdir()
    text = "- [ ] T001 Decide the layout\n- [ ] T002 Name the modules\n"
    with pytest.raises(UsageError, match="T001, T002 have no action and no_action=agent"):
        taskexec_nb.load(write_md(two, text)).run(no_action="agent", state_dir=two / "state")


@linux_only
def test_a_task_whose_only_action_is_a_notebook_not_made_yet_gets_the_agent_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its notebook, named only in the description, does not exist as the run starts:
    # like a task without an action, it goes to the no-action policy, so the run's
    # first note says how to connect an agent.
    from taskexec_nb.agentcmd import AGENT_TOML_EXAMPLE
    from taskexec_nb.cli import main

    text = "- [ ] T001 Crear notebooks/eda.ipynb con el análisis exploratorio\n"
    path = write_md(tmp_path, text)
    handle = taskexec_nb.load(path).run(state_dir=tmp_path / "state", writeback=False)
    assert handle.result is taskexec_nb.RunStatus.INCOMPLETE
    first = handle.notices[0]
    assert first.startswith("T001 has no action and no agent is connected"), handle.notices
    assert AGENT_TOML_EXAMPLE in first
    # With no_action=agent (and no agent), it fails as it starts, which both notes say.
    handle = taskexec_nb.load(path).run(
        state_dir=tmp_path / "state", writeback=False, no_action="agent"
    )
    assert handle.result is taskexec_nb.RunStatus.FAILED
    assert handle.notices[0].startswith(
        "T001 has no action and no agent is connected: it fails (no_action=agent)"
    )
    error = handle.status().loc["T001", "error"]
    assert error.startswith("no agent_command is configured") and AGENT_TOML_EXAMPLE in error
    # Once the notebook exists, the task has an action: no hint.
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "eda.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["run", str(path), "--dry-run"]) == 0
    assert "no agent is connected" not in capsys.readouterr().err


def test_a_configured_kernel_that_is_not_installed_stops_the_run_before_it_starts(
    tmp_path: Path,
) -> None:
    plan = taskexec_nb.load(notebook_project(tmp_path))
    with pytest.raises(UsageError) as raised:
        plan.run(
            state_dir=tmp_path / "state",
            writeback=False,
            executors={"notebook": {"kernel": "no-such-kernel"}},
        )
    message = str(raised.value)
    assert "executors.notebook.kernel names Jupyter kernel 'no-such-kernel'" in message
    assert "and T001, T002, T003 would run with it" in message
    assert "python3" in message  # what is installed
    assert not (tmp_path / "state" / "logs").exists()  # nothing ran


def test_a_notebooks_own_kernel_that_is_not_installed_is_named_with_its_task(
    tmp_path: Path,
) -> None:
    tasks = notebook_project(tmp_path, kernel="ir")
    result = subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(tasks), "--no-writeback"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "the notebook of T001 names Jupyter kernel 'ir'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".taskexec" / "logs").exists()
