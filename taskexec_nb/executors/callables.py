"""The callable executor: Python functions registered for a task, or named by ``callable=``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import fnmatch
import functools
import inspect
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from taskexec_nb._procfs import signal_descendants, signal_same, thread_children
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome
from taskexec_nb.executors.output import AttemptOutput, captured, in_thread
from taskexec_nb.model import ActionKind, Task

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
    options: ClassVar[tuple[str, ...]] = ()
    """Options it takes from the ``executors`` setting."""
    kinds: ClassVar[tuple[ActionKind, ...]] = (ActionKind.CALLABLE,)
    """The actions it runs when a task names no executor."""

    def __init__(self, functions: Mapping[str, TaskFunction] | None = None) -> None:
        self.functions: dict[str, TaskFunction] = dict(functions or {})

    def registered(self, task: Task) -> TaskFunction | None:
        """The callable registered for a task: by ID, then story, then the first pattern.

        Args:
            task: The task to find a function for.

        Returns:
            The registered function, or None when no key covers the task.
        """
        if task.id in self.functions:
            return self.functions[task.id]
        if task.story and task.story in self.functions:
            return self.functions[task.story]
        for pattern, fn in self.functions.items():
            if covers(pattern, task):
                return fn
        return None

    def unmatched(self, tasks: Iterable[Task]) -> list[str]:
        """Registered keys that cover none of ``tasks`` (most likely typos).

        Args:
            tasks: The tasks of the run.

        Returns:
            The keys (IDs, stories or patterns) that name none of them, in
            registration order.
        """
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
        """Call the task's function.

        An import error or a missing registration fails the attempt. A plain function
        runs in a worker thread, a coroutine function on the loop; either gets the
        attempt's context if it takes an argument, and its printed output is captured.

        Args:
            ctx: The attempt; the function gets it when it takes an argument, and its
                working folder is searched first for a ``callable=`` module.

        Returns:
            Completed when the function returns (anything but False); failed when it
            raises, returns False or cannot be found; timed out or cancelled when the
            attempt is stopped first. The tails are what the function printed.
        """
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
        """``fn`` for the worker thread: notes the thread, and cleans up if abandoned.

        Args:
            fn: The callable the attempt's worker thread runs.

        Returns:
            A function taking ``fn``'s positional arguments that records the
            thread's native ID (whose child processes :meth:`abandon` signals),
            calls ``fn`` and returns its result, and SIGKILLs what the thread
            still has running when it returns if the attempt was abandoned.
        """

        def run(*args: Any) -> Any:
            """Call ``fn`` on this thread, noting the thread and cleaning up if abandoned.

            Args:
                *args: The positional arguments for ``fn``.

            Returns:
                What ``fn`` returns (what it raises propagates).
            """
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
        """Forget the thread once it has returned, unless a newer one took its key.

        Args:
            _: The thread's future, now done (its outcome is not read here).
        """
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
        """Wake the wait: the job is done, a stop was requested or the timeout passed.

        Args:
            *_: Whatever the caller passes (the done job from its callback,
                nothing from a stop request or the timer), ignored.
        """
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
    """Whether a ``callables`` key names ``task``: its ID, its story or a pattern of IDs.

    Args:
        key: A key of the ``callables`` mapping, e.g. ``T003``, ``US1`` or ``T00*``.
        task: The task.

    Returns:
        True when the key is the task's ID or story, or a glob pattern (with
        ``*``, ``?`` or ``[``) that matches its ID.
    """
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
