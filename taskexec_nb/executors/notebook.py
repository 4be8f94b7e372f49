"""The notebook executor (papermill).

Also what a task does when a notebook only its description names is missing
(:mod:`~taskexec_nb.executors.inferred` finds it, or finds it missing).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome, executor_option
from taskexec_nb.executors.inferred import inferred_notebook
from taskexec_nb.executors.process import run_process
from taskexec_nb.model import ActionKind, Task


class NotebookExecutor:
    """Runs a notebook through papermill, saving the executed copy beside the logs.

    Parameters: ``task_id``, ``task_description``, ``run_id``, plus the task's
    ``param.NAME`` annotations.
    """

    name = "notebook"
    options: ClassVar[tuple[str, ...]] = ("kernel",)
    """Options it takes from the ``executors`` setting."""
    kinds: ClassVar[tuple[ActionKind, ...]] = (ActionKind.NOTEBOOK,)
    """The actions it runs when a task names no executor."""

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Execute the task's notebook with papermill in a subprocess.

        The notebook gets the task's ID, description, run ID and ``params`` as
        parameters; the executed copy is kept with the run's artifacts.

        Args:
            ctx: The attempt; the notebook path is read relative to its working
                directory, and the executed copy goes to its artifacts folder.

        Returns:
            The papermill process's outcome (a failing cell fails it); failed at once
            when the notebook does not exist.
        """
        target = ctx.task.action.target or ""
        source = (ctx.cwd / target).resolve()
        if not source.is_file():
            message = f"notebook {target!r} not found (looked in {ctx.cwd})"
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        output = ctx.artifact_dir / f"{ctx.task.id}.attempt{ctx.attempt}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
        parameters = {
            "task_id": ctx.task.id,
            "task_description": ctx.task.description,
            "run_id": ctx.run_id,
            **{name: _param_value(value) for name, value in ctx.task.params.params.items()},
        }
        argv = [
            sys.executable,
            "-m",
            "taskexec_nb.executors.kernels",  # papermill's command line, kernels over IPC
            str(source),
            str(output),
            "-y",
            json.dumps(parameters, ensure_ascii=False),  # escapes would reach YAML as surrogates
            "--cwd",
            str(ctx.cwd),
            "--no-progress-bar",
            "--log-output",  # cell output reaches the log and the tail as it is printed
        ]
        configured = executor_option(ctx, self.name, "kernel", None)
        named, language = notebook_kernelspec(source) or (None, None)
        kernel = str(configured) if configured else named or DEFAULT_KERNEL
        if configured or not language:  # papermill needs one to write the parameters
            language = _kernel_language(kernel) or language
        argv += ["-k", kernel]
        if language:
            argv += ["--language", language]
        outcome = await run_process(ctx, argv, sessions=True)  # the kernel has its own
        error = outcome.error
        if outcome.status is TaskStatus.FAILED:
            error = _notebook_error(output, target, outcome) or error
        if output.exists() and ctx.masker:  # cell outputs are saved in it: mask them there too
            _mask_notebook(output, ctx.masker.text)
        error = ctx.masker.text(error) if error else error
        return Outcome(
            outcome.status,
            outcome.exit_code,
            outcome.signal,
            error,
            outcome.tail,
            outcome.stderr_tail,
            {"notebook": str(output)} if output.exists() else {},
        )


_RAISED = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Kernel|Exit|Interrupt)): ?(.*)$")
"""The last line of a Python traceback: ``package.module.NameError: message``."""


def _notebook_error(output: Path, target: str, outcome: Outcome) -> str | None:
    """What made papermill fail, in one line: the failing cell's error, or papermill's own.

    Papermill exits 1 both for an error in a cell (the executed notebook says
    which) and for one of its own (no such kernel, a notebook it cannot read):
    then the last traceback line of its output names it.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            for out in cell.get("outputs", ()):
                if out.get("output_type") == "error":
                    count = cell.get("execution_count")
                    where = f'at "In [{count}]"' if count else "in a cell"
                    return f"{out.get('ename')}: {out.get('evalue')} ({where} of {target})"
    for line in reversed(outcome.stderr_tail.splitlines()):
        match = _RAISED.match(line.strip())
        if match:
            name, message = match.groups()
            error = f"{name}: {message}" if message else name
            if name == "NoSuchKernel":
                kernels = ", ".join(installed_kernels()) or "none"
                error += f" (kernels here: {kernels}; see executors.notebook.kernel)"
            return f"papermill failed: {error}"
    return None


DEFAULT_KERNEL = "python3"
"""The kernel for a notebook that names none, as Jupyter itself would pick."""


def notebook_kernelspec(path: Path) -> tuple[str | None, str | None] | None:
    """The kernel name and language a notebook's metadata give.

    Args:
        path: The ``.ipynb`` file.

    Returns:
        ``(name, language)``, either None where the metadata leave it out; None
        when the file cannot be read as a notebook.
    """
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)["metadata"]
        spec = metadata.get("kernelspec") or {}
        info = metadata.get("language_info") or {}
        found = spec.get("name"), info.get("name") or spec.get("language")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    name, language = (value if isinstance(value, str) and value else None for value in found)
    return name, language


def _kernel_language(kernel: str) -> str | None:
    """The language an installed kernel declares (None if it is not installed)."""
    from jupyter_client.kernelspec import KernelSpecManager  # with papermill; slow to import

    with contextlib.suppress(Exception):  # no such kernel, or an unreadable kernel.json
        return str(KernelSpecManager().get_kernel_spec(kernel).language) or None
    return None


def installed_kernels() -> list[str]:
    """The names of the Jupyter kernels installed here, sorted.

    Returns:
        Kernel names as ``papermill -k`` and notebooks' metadata name them.
    """
    from jupyter_client.kernelspec import KernelSpecManager  # with papermill; slow to import

    return sorted(KernelSpecManager().find_kernel_specs())


_LITERALS: dict[str, Any] = {"True": True, "False": False, "None": None}


def _param_value(value: Any) -> Any:
    """A ``param.NAME=`` value typed as papermill's ``-p`` types it (int, float, bool, None)."""
    if not isinstance(value, str):
        return value
    if value in _LITERALS:
        return _LITERALS[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _mask_notebook(path: Path, mask: Callable[[str], str]) -> None:
    """Mask secrets in every string of a saved notebook, leaving its JSON structure valid."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # papermill left no complete notebook: nothing readable to mask

    def walk(obj: Any) -> Any:
        """A copy of one JSON value with secrets masked in every string inside it.

        Args:
            obj: A value of the notebook's JSON: a string, list, object or scalar.

        Returns:
            The value with each string masked, lists and objects rebuilt around
            their masked items (keys kept as they are), other scalars unchanged.
        """
        if isinstance(obj, str):
            return mask(obj)
        if isinstance(obj, list):
            return [walk(item) for item in obj]
        if isinstance(obj, dict):
            return {key: walk(item) for key, item in obj.items()}
        return obj

    masked = walk(data)
    if masked != data:
        path.write_text(json.dumps(masked, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


_POLICY_EFFECT = {
    "agent": "hands it to the agent",
    "skip": "skips it (not done)",
    "fail": "fails it",
}


def notebook_fallback(task: Task, path: Path, policy: str, *, starting: bool = True) -> str:
    """The notice for a task whose notebook, named only in its description, is missing.

    Args:
        task: The task.
        path: The notebook looked for (:func:`~taskexec_nb.executors.inferred.missing_notebook`).
        policy: The effective ``no_action`` policy.
        starting: Whether the task starts now (else the run is about to start,
            and an earlier task may still create the notebook).

    Returns:
        One line naming the task, the path and what happens.
    """
    effect = _POLICY_EFFECT.get(policy, policy)
    if starting:
        what = f"does not exist, so the task has no action: no_action={policy} {effect}"
    else:
        what = (
            "does not exist yet: unless an earlier task creates it, the task has no "
            f"action when it starts, and no_action={policy} {effect}"
        )
    return (
        f"{task.id}: notebook {path} (named in its description) {what}; write "
        f"notebook={inferred_notebook(task)} in its taskexec: line to make a missing "
        "notebook a failure"
    )
