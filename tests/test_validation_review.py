"""Problems found before anything runs: executors, timeouts, the agent (review fixes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.errors import UsageError
from taskexec_nb.executors.registry import BUILTIN_NAMES


def problems(text: str, code: str) -> list[taskexec_nb.Diagnostic]:
    plan_or_error: list[taskexec_nb.Diagnostic] = []
    try:
        plan = taskexec_nb.loads(text, path="tasks.md")
        plan_or_error = list(plan.diagnostics)
    except taskexec_nb.ValidationError as exc:
        plan_or_error = list(exc.diagnostics)
    return [d for d in plan_or_error if d.code == code]


def test_an_unknown_executor_is_an_error_with_a_did_you_mean() -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 A
          - taskexec: run="true" executor=shel
        - [ ] T002 B
          - taskexec: executor=frobnicator
        """
    )
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.loads(text, path="tasks.md")
    first, second = info.value.errors
    assert (first.code, first.line, first.task_id) == ("TX107", 4, "T001")
    assert first.message.startswith("T001: executor=shel is not an executor here (known: ")
    assert first.hint == "did you mean executor=shell?"
    assert (second.line, second.task_id) == (6, "T002")
    assert second.hint == "install the plugin that provides it, or use a known one"
    for name in BUILTIN_NAMES:
        assert name in second.message


def test_the_builtin_executor_names_are_the_registrys() -> None:
    from taskexec_nb.executors import ExecutorRegistry

    assert set(BUILTIN_NAMES) <= set(ExecutorRegistry().names())


def test_executor_notebook_needs_a_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text('## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="true" executor=notebook\n')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr()
    shown = err.out + err.err
    assert "T001: executor=notebook runs a notebook, and the task names none" in shown
    assert "add notebook=PATH.ipynb to its taskexec: line" in shown


def test_a_task_with_an_explicit_executor_is_not_a_task_without_action() -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 For the agent
          - taskexec: executor=agent
        - [ ] T002 For a registered function
          - taskexec: executor=callable
        - [ ] T003 Nothing to do
        """
    )
    (d,) = problems(text, "TX105")
    assert d.message.startswith("1 task(s) have no action: T003 (line 7)")


@pytest.mark.parametrize("value", ["0", "0s", "0m"])
def test_a_zero_timeout_annotation_is_refused(value: str) -> None:
    text = f'## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="true" timeout={value}\n'
    (d,) = problems(text, "TX107")
    assert f"timeout={value} is no time to run" in d.message
    assert d.hint == "give a time above 0, or leave timeout out"


AGENT = md(
    """\
    ## Phase 1: X

    - [ ] T001 Think hard
      - taskexec: executor=agent
    - [ ] T002 Nothing to do
    """
)


def test_agent_tasks_without_agent_command_are_named_with_the_right_advice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(AGENT)
    plan = taskexec_nb.load(path)
    with pytest.raises(UsageError) as info:
        plan.run(no_action="skip", state_dir=tmp_path / "state")
    message = str(info.value)
    assert "no agent_command is set, but T001 set executor=agent" in message
    assert "no_action" not in message  # the policy does not decide for T001
    with pytest.raises(UsageError) as info:
        plan.run(no_action="agent", state_dir=tmp_path / "state")
    message = str(info.value)
    assert "T001 set executor=agent; T002 have no action and no_action=agent" in message
    assert "give the tasks without an action no_action=skip" in message


def test_an_agent_program_that_is_not_there_is_refused_even_by_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(AGENT)
    (tmp_path / ".git").mkdir()
    missing = "taskexec-no-such-agent"
    for extra in (["--dry-run"], []):
        argv = ["run", str(path), "--agent-command", f"{missing} --prompt {{prompt}}", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"agent_command: '{missing}' is not on PATH, and T001, T002 would go to" in err
    assert "[ ] T001" in path.read_text()
    # A full path to a real program is fine (the dry run lists the task).
    argv = ["run", str(path), "--dry-run", "--agent-command", f"{sys.executable} -c pass"]
    assert main(argv) == 0
    assert "T001" in capsys.readouterr().out
