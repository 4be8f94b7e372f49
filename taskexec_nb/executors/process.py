"""Running one attempt as a process group: output to a log, timeout, stop, no leftovers.

Every process starts in a new session (its own process group), so a timeout
or a cancel ends the whole tree: SIGTERM to the group, then SIGKILL after the
grace period. When the main process exits, anything it left in its group is
killed too, so no process outlives its task.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import AttemptContext, Outcome
from taskexec_nb.secrets import Masker

_CHUNK = 65536


_null: list[int] = []


def _devnull() -> int:
    """One read-only /dev/null descriptor for every task's stdin."""
    if not _null:
        _null.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _null[0]


class _LazyLog:
    """An attempt's log file, created on the first write (most no-op tasks write nothing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if self.file is None:
            try:
                self.file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - see __exit__
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - see __exit__
        self.file.write(data)

    def __enter__(self) -> _LazyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


class _Tail:
    """The last ``n`` complete lines written by one or more streams."""

    def __init__(self, n: int) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=max(1, n))

    def text(self, partials: Sequence[str] = ()) -> str:
        lines = list(self.lines) + [p for p in partials if p]
        return "\n".join(lines[-(self.lines.maxlen or 1) :])


class _Stream:
    """One output stream: decodes UTF-8 across chunk borders and splits lines."""

    def __init__(self, name: str, tails: tuple[_Tail, ...], masker: Masker) -> None:
        self.name = name
        self.tails = tails
        self.partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.masker = masker.stream() if masker else None

    def mask(self, chunk: bytes, final: bool = False) -> bytes:
        """The chunk with secrets masked (a possible secret's start waits for more)."""
        if self.masker is None:
            return chunk
        out = self.masker.feed(chunk)
        return out + self.masker.close() if final else out

    def feed(self, chunk: bytes, final: bool = False) -> str:
        text = self._decoder.decode(chunk, final)
        if text:
            *complete, self.partial = (self.partial + text).split("\n")
            for tail in self.tails:
                tail.lines.extend(complete)
        return text


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Stream protocol that also reports the moment the process exits.

    ``Process.wait()`` returns only once the output pipes are closed too, which
    a background child holding them can delay forever; the scheduler needs the
    exit itself, to end what the task left behind.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


class _Spawned:
    """A started process: its pid, output readers, stdin writer and exit future."""

    def __init__(
        self,
        pid: int,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        stdin: asyncio.StreamWriter | None,
        exited: asyncio.Future[None],
        reap: Callable[[], Awaitable[int]],
        abandon: Callable[[], None],
    ) -> None:
        self.pid, self.stdout, self.stderr, self.stdin = pid, stdout, stderr, stdin
        self.exited = exited
        self.reap = reap
        self.abandon = abandon  # the attempt was cancelled: reap and close without awaiting


async def _spawn_pidfd(ctx: AttemptContext, argv: Sequence[str], with_stdin: bool) -> _Spawned:
    """Start with ``subprocess.Popen`` and learn of the exit from a pidfd on the loop.

    asyncio's default child watcher on Python 3.11 starts a thread per process;
    a pidfd in the selector does the same job without threads.
    """
    loop = asyncio.get_running_loop()
    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if with_stdin else _devnull(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ctx.cwd,
        env=ctx.env,
        start_new_session=True,
    )
    try:
        pidfd = os.pidfd_open(popen.pid)
    except OSError:
        os.killpg(popen.pid, signal.SIGKILL)  # never leave a process we cannot watch
        popen.communicate()
        raise
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    readers = []
    transports: list[asyncio.BaseTransport] = []
    for pipe in (popen.stdout, popen.stderr):
        reader = asyncio.StreamReader(limit=_CHUNK, loop=loop)
        read_transport, _ = await loop.connect_read_pipe(
            functools.partial(asyncio.StreamReaderProtocol, reader), pipe
        )
        readers.append(reader)
        transports.append(read_transport)
    writer = None
    if with_stdin:
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, popen.stdin
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        transports.append(transport)

    async def reap() -> int:
        await exited
        return popen.wait()

    def abandon() -> None:
        for each in transports:
            each.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=2)  # the group was just SIGKILLed: this returns at once
        if not exited.done():
            on_exit()

    return _Spawned(popen.pid, readers[0], readers[1], writer, exited, reap, abandon)


async def _spawn_asyncio(ctx: AttemptContext, argv: Sequence[str], with_stdin: bool) -> _Spawned:
    """Start through asyncio's subprocess support (where pidfds are not available)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _ExitProtocol(_CHUNK, loop),
        *argv,
        stdin=subprocess.PIPE if with_stdin else _devnull(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ctx.cwd,
        env=ctx.env,
        start_new_session=True,
    )
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    assert proc.stdout is not None and proc.stderr is not None
    return _Spawned(
        proc.pid, proc.stdout, proc.stderr, proc.stdin, protocol.exited, proc.wait, transport.close
    )


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


async def _spawn(ctx: AttemptContext, argv: Sequence[str], with_stdin: bool) -> _Spawned:
    if _pidfds_work():
        return await _spawn_pidfd(ctx, argv, with_stdin)
    return await _spawn_asyncio(ctx, argv, with_stdin)


async def run_process(
    ctx: AttemptContext, argv: Sequence[str], *, stdin_data: bytes | None = None
) -> Outcome:
    """Run ``argv`` for an attempt and report how it ended.

    Args:
        ctx: The attempt.
        argv: The command; never passed through a shell by this function.
        stdin_data: Bytes written to the process's stdin (then closed).

    Returns:
        COMPLETED on exit code 0; FAILED otherwise (with exit code or signal);
        TIMED_OUT or CANCELLED when stopped.
    """
    both = _Tail(ctx.settings.tail_lines)
    errors = _Tail(ctx.settings.tail_lines)
    out_stream = _Stream("stdout", (both,), ctx.masker)
    err_stream = _Stream("stderr", (both, errors), ctx.masker)
    with _LazyLog(ctx.log_path) as log:
        try:
            proc = await _spawn(ctx, argv, stdin_data is not None)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            message = ctx.masker.text(f"cannot start {argv[0]!r} in {ctx.cwd}: {reason}")
            log.write((message + "\n").encode())
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        ctx.control.attach(proc.pid)
        try:
            pumps = [
                asyncio.ensure_future(_pump(proc.stdout, out_stream, log, ctx)),
                asyncio.ensure_future(_pump(proc.stderr, err_stream, log, ctx)),
            ]
            if stdin_data is not None:
                assert proc.stdin is not None
                await _feed_stdin(proc.stdin, stdin_data)
            try:
                ended = await _wait(proc.exited, ctx)
            except BaseException:
                # The attempt itself is cancelled (the event loop is shutting down): end the
                # group and reap it now, there may be no later step to do it in.
                ctx.control.signal(signal.SIGKILL)
                for pump in pumps:
                    pump.cancel()
                proc.abandon()
                raise
            # Whatever the task left running in its group goes too.
            ctx.control.signal(signal.SIGKILL)
            await asyncio.gather(*pumps)
            code = await proc.reap()
        finally:
            ctx.control.detach()
    status, error = _status(ended, code, ctx)
    partials = (out_stream.partial, err_stream.partial)
    return Outcome(
        status,
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        error=error,
        tail=both.text(partials),
        stderr_tail=errors.text((err_stream.partial,)),
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


async def _feed_stdin(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process did not read its input; its exit status tells the rest
    finally:
        stdin.close()


async def _pump(
    stream: asyncio.StreamReader, decoded: _Stream, log: _LazyLog, ctx: AttemptContext
) -> None:
    while True:
        raw = await stream.read(_CHUNK)
        chunk = decoded.mask(raw, final=not raw)  # the log and the events never see a secret
        if chunk:
            log.write(chunk)
            text = decoded.feed(chunk)
            if text:
                ctx.on_output(decoded.name, text)
        if not raw:
            decoded.feed(b"", final=True)
            return


async def _wait(exited: asyncio.Future[None], ctx: AttemptContext) -> str:
    """Wait for exit, a stop request or the timeout (paused time does not count)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.ensure_future(ctx.control.stop_requested.wait())
    start, paused_at_start = loop.time(), ctx.paused_time()
    try:
        while True:
            remaining = None
            if ctx.timeout is not None:
                used = (loop.time() - start) - (ctx.paused_time() - paused_at_start)
                remaining = max(0.0, ctx.timeout - used)
            waiters: set[asyncio.Future[Any]] = {exited, stop}
            done, _ = await asyncio.wait(
                waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if exited in done:
                return "exited"
            if stop in done:
                await terminate(exited, ctx)
                return "cancelled"
            used = (loop.time() - start) - (ctx.paused_time() - paused_at_start)
            if ctx.timeout is not None and used >= ctx.timeout and not ctx.is_paused():
                await terminate(exited, ctx)
                return "timed_out"
    finally:
        stop.cancel()


async def terminate(exited: asyncio.Future[None], ctx: AttemptContext) -> None:
    """SIGTERM the process group, then SIGKILL it after the grace period."""
    ctx.control.signal(signal.SIGTERM)
    ctx.control.signal(signal.SIGCONT)  # a suspended group must run to handle SIGTERM
    try:
        await asyncio.wait_for(asyncio.shield(exited), timeout=ctx.settings.kill_grace)
    except asyncio.TimeoutError:
        ctx.control.signal(signal.SIGKILL)
        await exited


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state != "Z"
