"""The agent executor: hands a task to an AI coding agent's CLI.

The agent gets a prompt naming the task, its details and the feature's context.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from taskexec_nb.agentcmd import (
    AGENT_FLAG_EXAMPLE,
    AGENT_TOML_EXAMPLE,
    agent_template_problems,
    shell_script,
)
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome
from taskexec_nb.executors.process import run_process
from taskexec_nb.model import ActionKind, Task

FEATURE_DOCUMENTS = (
    "plan.md",
    "spec.md",
    "data-model.md",
    "research.md",
    "quickstart.md",
    "contracts/",
)
"""The design documents spec-kit's implement step reads beside tasks.md (a ``/``: a folder)."""

CONSTITUTION = Path(".specify", "memory", "constitution.md")
"""Where spec-kit keeps the project's constitution, from the project's root."""


def feature_context(tasks_file: str | Path) -> str:
    """The feature's context for an agent, as spec-kit's implement step reads it.

    The absolute paths of the design documents that exist beside the tasks.md
    (:data:`FEATURE_DOCUMENTS`) and of the project's constitution
    (``.specify/memory/constitution.md`` in the tasks.md's folder or the
    nearest folder above it that has one, up to the project root: the first
    folder with ``.git`` or ``.specify``, as spec-kit finds it). Only what
    exists is named.

    Args:
        tasks_file: The tasks.md.

    Returns:
        Lines naming the documents, or an empty string when there are none.
    """
    folder = Path(tasks_file).absolute().parent
    documents = [
        f"- {folder / name}{'/' if name.endswith('/') else ''}"
        for name in FEATURE_DOCUMENTS
        if ((folder / name).is_dir() if name.endswith("/") else (folder / name).is_file())
    ]
    lines = []
    if documents:
        lines = ["Design documents of this feature (read them first):", *documents]
    for candidate in (folder, *folder.parents):
        constitution = candidate / CONSTITUTION
        if constitution.is_file():
            lines.append(f"Project constitution (its principles bind the work): {constitution}")
            break
        if (candidate / ".git").exists() or (candidate / ".specify").is_dir():
            break  # the project's root: a constitution above it is another project's
    return "\n".join(lines)


def agent_prompt(task: Task, tasks_file: str, context: str = "") -> str:
    """The prompt handed to an agent for one task.

    Args:
        task: The task.
        tasks_file: Path of the tasks.md.
        context: The feature's context (:func:`feature_context`), put after the
            task's details; empty for none.

    Returns:
        Plain text naming the task, its details (their lines as written in
        tasks.md, indentation included), the feature's context and what not to do.
    """
    lines = [
        f"Implement task {task.id} from {tasks_file}.",
        f"Task: {task.description}",
    ]
    if task.phase.number is not None or task.phase.title:
        lines.append(f"Phase: {task.phase.label}")
    if task.story:
        lines.append(f"User story: {task.story}")
    if task.files:
        lines.append("Files: " + ", ".join(task.files))
    details = _details(task.body)
    if details:
        lines += ["Details:", details]
    if context:
        lines.append(context)
    lines.append(
        "Do only this task. Do not edit the checkboxes in the tasks file: "
        "the task runner ticks them after verifying the result."
    )
    return "\n".join(lines)


def _details(body: str) -> str:
    """A task's body for the agent: its lines as written, without ``taskexec:`` annotations.

    The annotations are for the runner (``executor=agent``, timeouts, env); an
    agent reading them would take them for part of the work.
    """
    from taskexec_nb.annotations import ANNOTATION_RE

    kept = [line for line in body.split("\n") if not ANNOTATION_RE.match(line)]
    return "\n".join(kept).strip("\n").rstrip() if any(k.strip() for k in kept) else ""


def agent_argv(
    template: Sequence[str], task: Task, tasks_file: str, context: str = ""
) -> tuple[list[str], bool]:
    """Fill an agent argv template; task text only ever becomes whole argv elements' text.

    When the template runs a shell script (``bash -c SCRIPT``, see
    :func:`~taskexec_nb.agentcmd.shell_script`), the placeholders in the script
    are replaced by their values shell-quoted (:func:`shlex.quote`), so the
    task text is one inert word of the script; the elements after the script
    (its ``$0``, ``$1``...) and before it get the plain values.

    Args:
        template: The argv template with ``{placeholder}`` fields.
        task: The task.
        tasks_file: Path of the tasks.md.
        context: The feature's context (``{context}``, and part of ``{prompt}``).

    Returns:
        (argv, prompt_in_argv): whether the prompt went into an argument.

    Raises:
        ValueError: For an unknown placeholder or stray brace, naming it.
    """
    values = {
        "id": task.id,
        "description": task.description,
        "files": " ".join(task.files),
        "phase": task.phase.label,
        "story": task.story or "",
        "tasks_file": tasks_file,
        "context": context,
        "prompt": agent_prompt(task, tasks_file, context),
    }
    problems = agent_template_problems(template)
    if problems:
        raise ValueError(problems[0])
    script = shell_script(template)
    quoted = {name: shlex.quote(value) for name, value in values.items()}
    argv: list[str] = []
    used_prompt = False
    for index, element in enumerate(template):
        in_script = script is not None and script.covers(index)
        argv.append(element.format_map(quoted if in_script else values))
        used_prompt = used_prompt or any(
            field == "prompt" for _, field, _, _ in string.Formatter().parse(element)
        )
    return argv, used_prompt


class AgentExecutor:
    """Hands a task to an AI coding agent's CLI (``agent_command``).

    taskexec starts the argv itself, never through a shell; an ``agent_command``
    that runs a shell script (``bash -c "my-agent {description}"``) gets the
    values in its script shell-quoted.
    """

    name = "agent"
    options: ClassVar[tuple[str, ...]] = ()
    """Options it takes from the ``executors`` setting."""
    kinds: ClassVar[tuple[ActionKind, ...]] = (ActionKind.AGENT,)
    """The actions it runs when a task names no executor."""

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Start the agent for this task.

        The ``agent_command`` template gets the task's prompt in its argv (where it
        has ``{prompt}``) or on standard input; with no template the attempt fails
        with a message saying how to set one.

        Args:
            ctx: The attempt; its settings hold the template and whether the
                feature's context goes into the prompt.

        Returns:
            The agent process's outcome: completed when it exits 0; failed (with the
            reason) when no agent_command is set or the process fails.
        """
        template = ctx.settings.agent_command
        if not template:
            message = (
                f"no agent_command is configured; set one, e.g. {AGENT_FLAG_EXAMPLE}, or "
                f"{AGENT_TOML_EXAMPLE} in taskexec.toml, or no_action='skip'"
            )
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        # RunSettings refused a bad template already (agent_template_problems).
        tasks_file = str(Path(ctx.tasks_file).absolute())  # the agent runs in the task's cwd
        context = feature_context(tasks_file) if ctx.settings.agent_context else ""
        argv, in_argv = agent_argv(template, ctx.task, tasks_file, context)
        stdin = None if in_argv else agent_prompt(ctx.task, tasks_file, context).encode()
        return await run_process(ctx, argv, stdin_data=stdin)
