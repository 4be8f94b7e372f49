"""The built-in executors: shell, python, notebook, agent and callable."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import fnmatch
import functools
import inspect
import json
import re
import shlex
import shutil
import signal
import string
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskexec_nb._procfs import signal_descendants, signal_same, thread_children
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome
from taskexec_nb.executors.capture import AttemptOutput, captured, in_thread
from taskexec_nb.executors.process import run_process
from taskexec_nb.model import ActionKind, Task
from taskexec_nb.settings import agent_template_problems, shell_script

EXECUTOR_OPTIONS: dict[str, tuple[str, ...]] = {
    "shell": (),
    "python": ("interpreter",),
    "notebook": ("kernel",),
    "agent": (),
    "callable": (),
}
"""Options the built-in executors take from the ``executors`` setting."""


def _option(ctx: AttemptContext, executor: str, name: str, default: Any) -> Any:
    return ctx.settings.executors.get(executor, {}).get(name, default)


def _shell_for(language: str | None, default: str) -> list[str]:
    if language == "bash":
        bash = shutil.which("bash")
        if bash:
            return [bash, "--noprofile", "--norc", "-e", "-o", "pipefail"]
    return [default, "-e"]


class ShellExecutor:
    """Runs a fenced ``sh``/``bash`` block (``-e``: stop at the first failing command).

    A ``run=`` command line runs through the configured shell with ``-c``.
    """

    name = "shell"

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run the task's shell code or command."""
        action = ctx.task.action
        if action.kind is ActionKind.COMMAND:
            return await run_process(ctx, [ctx.settings.shell, "-c", action.code or ""])
        script = ctx.artifact_dir / f"{ctx.task.id}.attempt{ctx.attempt}.sh"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(action.code or "", encoding="utf-8")
        return await run_process(
            ctx, [*_shell_for(action.language, ctx.settings.shell), str(script)]
        )


class PythonExecutor:
    """Runs a fenced ``python`` block in a subprocess of this interpreter."""

    name = "python"

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run the task's Python code."""
        script = ctx.artifact_dir / f"{ctx.task.id}.attempt{ctx.attempt}.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(ctx.task.action.code or "", encoding="utf-8")
        interpreter = str(_option(ctx, "python", "interpreter", sys.executable))
        return await run_process(ctx, [interpreter, "-u", "-c", _RUN_SCRIPT, str(script)])


_RUN_SCRIPT = "import runpy, sys; sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"
"""Runs a block's script as ``python -c`` would run its code: the working folder
(not the log folder the script is saved in) comes first on ``sys.path``, so the
project's own modules import."""


class NotebookExecutor:
    """Runs a notebook through papermill, saving the executed copy beside the logs.

    Parameters: ``task_id``, ``task_description``, ``run_id``, plus the task's
    ``param.NAME`` annotations.
    """

    name = "notebook"

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Execute the task's notebook with papermill in a subprocess."""
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
            "papermill",
            str(source),
            str(output),
            "-y",
            json.dumps(parameters, ensure_ascii=False),  # escapes would reach YAML as surrogates
            "--cwd",
            str(ctx.cwd),
            "--no-progress-bar",
            "--log-output",  # cell output reaches the log and the tail as it is printed
        ]
        configured = _option(ctx, "notebook", "kernel", None)
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
    folder with ``.git``). Only what exists is named.

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
        if (candidate / ".git").exists():
            break
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
    if task.body.strip():
        lines += ["Details:", task.body.strip("\n").rstrip()]
    if context:
        lines.append(context)
    lines.append(
        "Do only this task. Do not edit the checkboxes in the tasks file: "
        "the task runner ticks them after verifying the result."
    )
    return "\n".join(lines)


def agent_argv(
    template: Sequence[str], task: Task, tasks_file: str, context: str = ""
) -> tuple[list[str], bool]:
    """Fill an agent argv template; task text only ever becomes whole argv elements' text.

    When the template runs a shell script (``bash -c SCRIPT``, see
    :func:`~taskexec_nb.settings.shell_script`), the placeholders in the script
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
        in_script = script is not None and index == script.index
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

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Start the agent for this task."""
        template = ctx.settings.agent_command
        if not template:
            message = (
                "no agent_command is configured; set agent_command to an argv such as "
                "['my-agent', '--prompt', '{prompt}'], or no_action='skip'"
            )
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        # RunSettings refused a bad template already (agent_template_problems).
        tasks_file = str(Path(ctx.tasks_file).absolute())  # the agent runs in the task's cwd
        context = feature_context(tasks_file) if ctx.settings.agent_context else ""
        argv, in_argv = agent_argv(template, ctx.task, tasks_file, context)
        stdin = None if in_argv else agent_prompt(ctx.task, tasks_file, context).encode()
        return await run_process(ctx, argv, stdin_data=stdin)


TaskFunction = Callable[..., Any]


class CallableExecutor:
    """Runs Python callables registered for a task ID, a story or an ID pattern.

    A callable receives the :class:`AttemptContext` if it takes an argument.
    It fails the task by raising or by returning False. Async callables run on
    the event loop (a timeout or a cancel cancels them); plain ones run in a
    worker thread, which a timeout or cancel cannot stop: the attempt ends at
    once as timed out or cancelled, the processes the thread started are ended
    (so a ``subprocess.run`` in it returns), and the run goes on without it; the
    task's next attempt (a retry, or a later run in this process) waits for the
    thread to return. A plain function that returns an awaitable has it awaited.
    Any exception the function raises, ``SystemExit`` and ``KeyboardInterrupt``
    included, fails the task and nothing else.
    """

    name = "callable"

    def __init__(self, functions: Mapping[str, TaskFunction] | None = None) -> None:
        self.functions: dict[str, TaskFunction] = dict(functions or {})

    def registered(self, task: Task) -> TaskFunction | None:
        """The callable registered for a task: by ID, then story, then the first pattern."""
        if task.id in self.functions:
            return self.functions[task.id]
        if task.story and task.story in self.functions:
            return self.functions[task.story]
        for pattern, fn in self.functions.items():
            if covers(pattern, task):
                return fn
        return None

    def unmatched(self, tasks: Iterable[Task]) -> list[str]:
        """Registered keys that cover none of ``tasks`` (most likely typos)."""
        tasks = list(tasks)
        return [key for key in self.functions if not any(covers(key, t) for t in tasks)]

    def find(self, task: Task, cwd: Path | None = None) -> TaskFunction | None:
        """The registered callable, else the one a ``callable=`` annotation names.

        Args:
            task: The task.
            cwd: The task's working folder: a ``callable=`` module is looked
                for there first, as a ``python`` block finds its modules.

        Returns:
            The function, or None when the task names none.

        Raises:
            Exception: Whatever importing the ``callable=`` module raises.
        """
        fn = self.registered(task)
        if fn is not None:
            return fn
        target = task.action.target
        if task.action.kind is ActionKind.CALLABLE and target:
            return _import_callable(target, cwd)
        return None

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Call the task's function."""
        try:
            fn = self.find(ctx.task, ctx.cwd)
        except Exception as exc:  # an import error of any kind is this task's failure
            message = f"cannot import callable {ctx.task.action.target!r}: {exc}"
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        if fn is None:
            message = f"no callable is registered for {ctx.task.id}"
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        previous = _LEFT_RUNNING.get(_thread_key(ctx))
        if previous is not None and not previous.done():
            # A thread cannot be stopped: the next attempt (of this run or a later one in
            # this process) waits for the last one's to return, so two copies of the
            # function never run at once.
            _log(ctx, "waiting for the previous attempt's thread to return")
            waiting = asyncio.wrap_future(previous)
            waiting.add_done_callback(_forget)
            if await _until(waiting, ctx, None) != "done":
                return Outcome(TaskStatus.CANCELLED, error="cancelled")
        args = (ctx,) if _takes_argument(fn) else ()
        threaded = not _is_async(fn)
        with captured(ctx) as output:
            status, error = await self._attempt(ctx, fn, args, threaded, output)
        tail, stderr_tail = output.tails()
        return Outcome(status, error=error, tail=tail, stderr_tail=stderr_tail)

    async def _attempt(
        self,
        ctx: AttemptContext,
        fn: TaskFunction,
        args: tuple[Any, ...],
        threaded: bool,
        output: AttemptOutput,
    ) -> tuple[TaskStatus, str | None]:
        spawned = _ThreadProcesses(ctx.settings.kill_grace) if threaded else None
        thread = _start_thread(in_thread(spawned.wrap(fn)), args) if spawned else None
        job = asyncio.ensure_future(_call(fn, args, thread))  # carries the capture
        try:
            ended = await _until(job, ctx, ctx.timeout)
            if ended != "done":  # cancelled, or our timeout (not a TimeoutError it raised)
                if spawned is not None and thread is not None:
                    spawned.abandon()
                    _leave_running(_thread_key(ctx), thread)
                    job.add_done_callback(_forget)
                else:
                    job.cancel()
                if ended == "stopped":
                    return TaskStatus.CANCELLED, "cancelled"
                assert ctx.timeout is not None
                return TaskStatus.TIMED_OUT, f"timed out after {ctx.timeout:g} s"
            result = job.result()
        except asyncio.CancelledError:
            job.cancel()
            raise
        except Exception as raised:  # the task's own failure, even sys.exit(), is its result
            error = raised.exc if isinstance(raised, _RaisedError) else raised
            text = "".join(traceback.format_exception(error)).rstrip()
            output.write("stderr", text + "\n")  # after what it printed, as a terminal shows
            name = type(error).__name__
            return TaskStatus.FAILED, f"{name}: {error}" if str(error) else name
        if _false(result):
            return TaskStatus.FAILED, f"the callable returned {result!r}"
        return TaskStatus.COMPLETED, None


def _false(result: Any) -> bool:
    """Whether a callable's result is False: Python's, or a NumPy boolean scalar's.

    ``(frame["x"] > 0).all()`` gives ``numpy.False_``, which is not ``False``.
    Other falsy results (None, 0, an empty list) are not failures.
    """
    if result is False:
        return True
    kind = type(result)
    return kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool") and not bool(result)


def _is_async(fn: TaskFunction) -> bool:
    """Whether calling ``fn`` gives a coroutine (an async function, partial or ``__call__``)."""
    if inspect.iscoroutinefunction(fn):
        return True
    method = inspect.getattr_static(type(fn), "__call__", None)
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(method)


class _ThreadProcesses:
    """The processes a plain callable's worker thread starts, ended if its attempt is.

    A thread cannot be stopped, but what it waits for can: when its attempt
    times out or is cancelled, the processes the thread started (and theirs)
    get SIGTERM, then SIGKILL after the kill grace, so a ``subprocess.run`` in
    it returns and the thread with it. What it starts after that is killed
    when it returns. A finished attempt's processes are left alone: a callable
    may start a server or a cluster for later tasks on purpose.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.tid: int | None = None
        self.abandoned = False

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` for the worker thread: notes the thread, and cleans up if abandoned."""

        def run(*args: Any) -> Any:
            self.tid = threading.get_native_id()
            try:
                return fn(*args)
            finally:
                if self.abandoned:
                    self._signal(signal.SIGKILL)

        return run

    def abandon(self) -> None:
        """The attempt timed out or was cancelled: SIGTERM now, SIGKILL after the grace."""
        self.abandoned = True
        targets = self._signal(signal.SIGTERM)
        if targets:  # on a timer thread: the run (and its loop) may end before the grace
            timer = threading.Timer(self.grace, signal_same, (targets,))
            timer.daemon = True
            timer.start()

    def _signal(self, sig: int) -> dict[int, str | None]:
        if self.tid is None:  # the thread has not started: it cleans up when it returns
            return {}
        return signal_descendants(thread_children(self.tid), sig)


_LEFT_RUNNING: dict[tuple[str, str], concurrent.futures.Future[Any]] = {}
"""Threads of callables whose attempts timed out or were cancelled, until they return."""
_LEFT_LOCK = threading.Lock()


def _thread_key(ctx: AttemptContext) -> tuple[str, str]:
    return str(ctx.tasks_file), ctx.task.id


def _leave_running(key: tuple[str, str], thread: concurrent.futures.Future[Any]) -> None:
    """Remember an abandoned attempt's thread until it returns."""

    def returned(_: concurrent.futures.Future[Any]) -> None:
        with _LEFT_LOCK:
            if _LEFT_RUNNING.get(key) is thread:
                del _LEFT_RUNNING[key]

    with _LEFT_LOCK:
        _LEFT_RUNNING[key] = thread
    thread.add_done_callback(returned)


def _start_thread(fn: Callable[..., Any], args: tuple[Any, ...]) -> concurrent.futures.Future[Any]:
    """Call ``fn`` in a new daemon thread, in a copy of this context.

    Not the loop's default executor: ``asyncio.run`` waits for that one's threads
    at its end, so a blocked function abandoned by a timeout or a Ctrl-C would
    hold the run (and a notebook cell) until it returned.
    """
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # even SystemExit: it is the function's result
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=target, name="taskexec-callable", daemon=True).start()
    return future


async def _call(
    fn: TaskFunction, args: tuple[Any, ...], thread: concurrent.futures.Future[Any] | None
) -> Any:
    """Call ``fn`` (or await its ``thread``), awaiting what it returns if awaitable.

    A plain function that returns a coroutine (``lambda: main()``) has it run on
    the loop: it is never taken for a result.
    """
    try:
        if thread is not None:
            result = await asyncio.wrap_future(thread)
        else:
            result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
    except (asyncio.CancelledError, Exception):
        raise
    except BaseException as exc:  # asyncio would let SystemExit or KeyboardInterrupt end the loop
        raise _RaisedError(exc) from exc
    return result


class _RaisedError(Exception):
    """Carries a BaseException the function raised (``sys.exit()``) out of its asyncio task.

    Even ``KeyboardInterrupt``: no signal is delivered into a function's frame on a
    worker thread, and on the loop asyncio would let it end the loop (and the kernel
    running it), so a raised one is the function's failure. Ctrl-C stops a run
    through :meth:`RunHandle.interrupt` instead.
    """

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


async def _until(job: asyncio.Future[Any], ctx: AttemptContext, timeout: float | None) -> str:
    """Wait for ``job``: "done", "stopped" (a cancel or stop) or "timeout"."""
    loop = asyncio.get_running_loop()
    wake: asyncio.Future[None] = loop.create_future()

    def poke(*_: object) -> None:
        if not wake.done():
            wake.set_result(None)

    job.add_done_callback(poke)
    unsubscribe = ctx.control.on_stop(poke)
    timer = None if timeout is None else loop.call_later(timeout, poke)
    if ctx.control.stop_requested.is_set():
        poke()
    try:
        await wake
    finally:
        unsubscribe()
        job.remove_done_callback(poke)
        if timer is not None:
            timer.cancel()
    if job.done():
        return "done"
    return "stopped" if ctx.control.stop_requested.is_set() else "timeout"


def _forget(job: asyncio.Future[Any]) -> None:
    """Retrieve a left-behind attempt's outcome, so asyncio does not report it unread."""
    if not job.cancelled():
        job.exception()


def covers(key: str, task: Task) -> bool:
    """Whether a ``callables`` key names ``task``: its ID, its story or a pattern of IDs."""
    if key in (task.id, task.story):
        return True
    return any(c in key for c in "*?[") and fnmatch.fnmatchcase(task.id, key)


def _log(ctx: AttemptContext, text: str) -> None:
    ctx.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(ctx.log_path, "a", encoding="utf-8") as f:
        f.write(ctx.masker.text(text) + "\n")


@functools.lru_cache(maxsize=256)
def _takes_argument(fn: TaskFunction) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


_IMPORT_LOCK = threading.Lock()


def _import_callable(reference: str, cwd: Path | None = None) -> TaskFunction:
    """Import ``module:function``, with ``cwd`` first on ``sys.path`` for the import only.

    As a ``python`` block finds the project's modules beside it, a module in
    the task's working folder imports without ``PYTHONPATH``. The folder is on
    ``sys.path`` while the module is imported (its own imports at import time
    find its neighbours), then taken off again: the process's path is left as
    it was. An imported module stays in ``sys.modules``, as any import does: a
    second task naming the same module gets that one, even from another folder.
    """
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("write callable=package.module:function")
    import importlib

    entry = str(cwd) if cwd is not None else None
    with _IMPORT_LOCK:
        if entry is not None:
            sys.path.insert(0, entry)
            importlib.invalidate_caches()  # an earlier task may have just written the module
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if entry is None or exc.name is None or not module_name.startswith(exc.name):
                raise
            raise ModuleNotFoundError(
                f"{exc} (looked in {entry}, the task's working folder, then on sys.path)",
                name=exc.name,
            ) from None
        finally:
            if entry is not None:  # this very entry, wherever the import moved it
                for index, path in enumerate(sys.path):
                    if path is entry:
                        del sys.path[index]
                        break
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{reference} is not callable")
    return obj  # type: ignore[no-any-return]
