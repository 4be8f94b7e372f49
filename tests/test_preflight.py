"""Pre-flight checks: what a run refuses before anything runs (resources, agent, kernels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import line_of
from helpers import (
    MARK,
    block,
    linux_only,
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
