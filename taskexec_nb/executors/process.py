"""Running one attempt as a process group: output to a log, timeout, stop, no leftovers.

Every process starts in a new session (its own process group), so a timeout
or a cancel ends the whole tree: SIGTERM to the group, then SIGKILL after the
grace period. When the main process exits, anything it left in its group is
killed too, so no process outlives its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import signal
import subprocess
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import ClassVar

from taskexec_nb._procfs import end_attempt
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome
from taskexec_nb.executors.output import _LazyLog, _Outputs, _Stream

_CHUNK = 65536


_null: list[int] = []


def _devnull() -> int:
    """One read-only /dev/null descriptor for every task's stdin."""
    if not _null:
        _null.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _null[0]


class _Watcher:
    """Readiness of many short-lived descriptors through one epoll registered with the loop.

    Adding a pipe or pidfd to the loop costs a selector key and a handle each
    time; an inner epoll costs one system call. Where there is no epoll the
    loop's own readers are used.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._handlers: dict[int, Callable[[], None]] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Watcher:
        """The loop's watcher, made on first use and kept while the loop lives.

        Args:
            loop: The running event loop.

        Returns:
            The one watcher of ``loop``.
        """
        watcher = cls._by_loop.get(loop)
        if watcher is None:
            watcher = cls._by_loop[loop] = cls(loop)
        return watcher

    def add(self, fd: int, handler: Callable[[], None]) -> None:
        """Call ``handler`` whenever ``fd`` is readable (or at its end).

        Args:
            fd: An open descriptor: a pipe's read end or a pidfd.
            handler: Called with no arguments on the loop's thread, once per
                readiness, until :meth:`remove`.
        """
        loop = self._loop()
        assert loop is not None
        if self._epoll is None:
            loop.add_reader(fd, handler)
            return
        self._epoll.register(fd, select.EPOLLIN)
        if not self._handlers:
            loop.add_reader(self._epoll.fileno(), self._ready)
        self._handlers[fd] = handler

    def remove(self, fd: int) -> None:
        """Stop watching ``fd`` (before it is closed); one not watched is ignored.

        Args:
            fd: A descriptor given to :meth:`add`.
        """
        loop = self._loop()
        if self._epoll is None:
            if loop is not None:
                loop.remove_reader(fd)
            return
        if self._handlers.pop(fd, None) is None:
            return
        self._epoll.unregister(fd)
        if not self._handlers and loop is not None:
            loop.remove_reader(self._epoll.fileno())  # an idle run leaves nothing in the loop

    def _ready(self) -> None:
        assert self._epoll is not None
        for fd, _ in self._epoll.poll(0):
            handler = self._handlers.get(fd)
            if handler is not None:
                handler()


class _Child:
    """A started process whose pipes and exit are watched by callbacks on the loop.

    No transports, stream readers or helper tasks: each output chunk is read,
    masked, logged and reported in one callback, and the exit is seen through a
    pidfd (or, where the kernel has none, a waiting thread); both go through the
    loop's :class:`_Watcher`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        popen: subprocess.Popen[bytes],
        streams: dict[int, _Stream],
        log: _LazyLog,
        ctx: AttemptContext,
    ) -> None:
        self.loop = loop
        self.watcher = _Watcher.of(loop)
        self.popen = popen
        self.pid = popen.pid
        self.exited: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self._streams = streams
        self._log = log
        self._ctx = ctx
        self._drained: asyncio.Future[None] | None = None
        self._pidfd: int | None = None
        self._stdin: int | None = None
        self._pending = memoryview(b"")
        self._writing = False

    @classmethod
    def start(
        cls,
        ctx: AttemptContext,
        argv: Sequence[str],
        stdin_data: bytes | None,
        streams: tuple[_Stream, _Stream],
        log: _LazyLog,
    ) -> _Child:
        """Start ``argv`` in a new session with its output on two pipes.

        Args:
            ctx: The attempt (its working folder, environment and output observer).
            argv: The command and its arguments (no shell).
            stdin_data: Bytes fed to the process's stdin, then closed; None gives
                it ``/dev/null``.
            streams: The attempt's stdout and stderr streams, which mask and split
                what each pipe carries.
            log: The attempt's log, which gets the masked output of both pipes.

        Returns:
            The started child, its pipes and its exit watched on the loop.

        Raises:
            OSError: If the process cannot be started or watched (nothing is left running).
        """
        loop = asyncio.get_running_loop()
        fds: list[int] = []
        try:
            out_r, out_w = os.pipe()
            fds += (out_r, out_w)
            err_r, err_w = os.pipe()
            fds += (err_r, err_w)
            in_r = in_w = -1
            if stdin_data is not None:
                in_r, in_w = os.pipe()
                fds += (in_r, in_w)
            popen = subprocess.Popen(
                list(argv),
                stdin=in_r if stdin_data is not None else _devnull(),
                stdout=out_w,
                stderr=err_w,
                cwd=ctx.cwd,
                env=ctx.env,
                start_new_session=True,
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
        child = cls(loop, popen, {out_r: streams[0], err_r: streams[1]}, log, ctx)
        try:
            child._watch_exit()
        except OSError:
            os.killpg(popen.pid, signal.SIGKILL)  # never leave a process we cannot watch
            popen.wait()
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
            child.watcher.add(fd, functools.partial(child._readable, fd))
        if stdin_data is not None:
            child._stdin = in_w
            child._pending = memoryview(stdin_data)
            os.set_blocking(in_w, False)
            child._write_stdin()
        return child

    # -- exit
    def _watch_exit(self) -> None:
        if _pidfds_work():
            self._pidfd = os.pidfd_open(self.pid)
            self.watcher.add(self._pidfd, self._on_exit)
            return
        thread = threading.Thread(
            target=_wait_in_thread, args=(self.pid, self.loop, self._on_exit), daemon=True
        )
        thread.start()

    def _on_exit(self) -> None:
        if self._pidfd is not None:
            self.watcher.remove(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self.exited.done():
            self.exited.set_result(None)

    # -- output
    def _readable(self, fd: int) -> None:
        stream = self._streams[fd]
        try:
            try:
                raw = os.read(fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                raw = b""
            if not raw:
                self._close(fd)
            chunk = stream.mask(raw, final=not raw)  # the log and the events never see a secret
            if chunk:
                self._log.write(chunk)
                text = stream.feed(chunk)
                if text:
                    self._ctx.on_output(stream.name, text)
            if not raw:
                stream.feed(b"", final=True)
        except Exception as exc:  # a failing log or observer: end the attempt with it
            self.error = self.error or exc
            self.close()
            if not self.exited.done():
                self.exited.set_result(None)

    def _close(self, fd: int) -> None:
        if self._streams.pop(fd, None) is not None:
            self.watcher.remove(fd)
            os.close(fd)
        if not self._streams and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drained(self, grace: float) -> None:
        """Wait for the end of both outputs (closing them after ``grace`` s if still held).

        Args:
            grace: Seconds to wait for the pipes to end once the process has
                exited (``kill_grace``); only a process that left the task's
                group can hold them open that long.
        """
        if self._streams:
            self._drained = self.loop.create_future()
            # Only a process that left the task's group can still hold them open.
            await asyncio.wait((self._drained,), timeout=grace)
            self.close()

    # -- input
    def _write_stdin(self) -> None:
        assert self._stdin is not None
        try:
            while self._pending:
                written = os.write(self._stdin, self._pending[:_CHUNK])
                self._pending = self._pending[written:]
        except BlockingIOError:
            if not self._writing:
                self._writing = True
                self.loop.add_writer(self._stdin, self._write_stdin)
            return
        except OSError:
            pass  # the process did not read its input; its exit status tells the rest
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin is None:
            return
        if self._writing:
            self.loop.remove_writer(self._stdin)
            self._writing = False
        os.close(self._stdin)
        self._stdin = None

    # -- the end
    def close(self) -> None:
        """Stop reading and writing (what is still unread is dropped)."""
        for fd in list(self._streams):
            self._close(fd)
        self._close_stdin()

    def reap(self) -> int:
        """The exit status (the process has exited)."""
        return self.popen.wait()

    def abandon(self) -> None:
        """The attempt was cancelled after its group was killed: close and reap now."""
        self.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=2)  # the group was just SIGKILLed: this returns at once
        self._on_exit()


def _wait_in_thread(pid: int, loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> None:
    """Wait for ``pid`` to exit (leaving it to be reaped), then tell the loop."""
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(on_exit)


_PIDFD: bool | None = None if hasattr(os, "pidfd_open") else False


def _pidfds_work() -> bool:
    """Whether this kernel has pidfds (probed once, on our own pid)."""
    global _PIDFD
    if _PIDFD is None:
        try:
            os.close(os.pidfd_open(os.getpid()))
            _PIDFD = True
        except OSError:
            _PIDFD = False
    return _PIDFD


async def run_process(
    ctx: AttemptContext,
    argv: Sequence[str],
    *,
    stdin_data: bytes | None = None,
    sessions: bool = False,
) -> Outcome:
    """Run ``argv`` for an attempt and report how it ended.

    When the attempt ends, its process group is killed. After a timeout or a
    cancel, processes of the attempt that left the group are found by the
    attempt's marks in their environment and killed too.

    Args:
        ctx: The attempt.
        argv: The command; never passed through a shell by this function.
        stdin_data: Bytes written to the process's stdin (then closed).
        sessions: The command starts processes in sessions of their own as a
            matter of course (papermill's kernel): look for them at every end.

    Returns:
        COMPLETED on exit code 0; FAILED otherwise (with exit code or signal);
        TIMED_OUT or CANCELLED when stopped.
    """
    outputs = _Outputs(ctx.settings.tail_lines, ctx.masker)
    with _LazyLog(ctx.log_path) as log:
        try:
            child = _Child.start(ctx, argv, stdin_data, (outputs.stdout, outputs.stderr), log)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if not ctx.cwd.is_dir():
                what = "is not a folder" if ctx.cwd.exists() else "does not exist"
                message = f"the working folder {ctx.cwd} {what} (see the task's cwd)"
            else:
                message = ctx.masker.text(f"cannot start {argv[0]!r} in {ctx.cwd}: {reason}")
            log.write((message + "\n").encode())
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        ctx.control.marks = ctx.env  # a pause stops what left the group too
        ctx.control.attach(child.pid)
        try:
            try:
                ended = await ctx.control.wait_exit(
                    child.exited, ctx.timeout, ctx.settings.kill_grace
                )
            except BaseException:
                # The attempt itself is cancelled (the event loop is shutting down): end the
                # group and reap it now, there may be no later step to do it in.
                ctx.control.signal(signal.SIGKILL)
                child.abandon()
                raise
            # Whatever the task left running in its group goes too.
            ctx.control.signal(signal.SIGKILL)
            if sessions or ended != "exited":
                end_attempt(ctx.env)
            try:
                await child.drained(ctx.settings.kill_grace)
            except BaseException:
                child.abandon()  # cancelled while the last output drains: close and reap now
                raise
            code = child.reap()
        finally:
            ctx.control.detach()
    ctx.log_written = log.file is not None
    if child.error is not None:
        raise child.error
    status, error = _status(ended, code, ctx)
    tail, stderr_tail = outputs.tails()
    return Outcome(
        status,
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        error=error,
        tail=tail,
        stderr_tail=stderr_tail,
    )


def _status(ended: str, code: int | None, ctx: AttemptContext) -> tuple[TaskStatus, str | None]:
    if ended == "timed_out":
        return TaskStatus.TIMED_OUT, f"timed out after {ctx.timeout:g} s"
    if ended == "cancelled":
        return TaskStatus.CANCELLED, "cancelled"
    if code == 0:
        return TaskStatus.COMPLETED, None
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return TaskStatus.FAILED, f"killed by signal {name}"
    return TaskStatus.FAILED, f"exit code {code}"
