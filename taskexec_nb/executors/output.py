"""How an attempt's output reaches its log, its tails and output events.

A process's two pipes and a callable's prints go the same way: masked
(secrets never reach the log or the events), written to the attempt's log
(created at the first write), split into lines for the tails as a terminal
shows them, and handed to ``on_output``.

A callable runs inside this process, where ``sys.stdout`` and ``sys.stderr``
are shared with everything else (a notebook's cells, other callables). While
any callable attempt runs, both are replaced by a :class:`_Redirect` that looks
up the attempt in a context variable: asyncio tasks and ``asyncio.to_thread``
carry it, so an async callable, the tasks it creates and a plain function in
its worker thread all write to their own attempt; anything else goes to the
stream that was there before.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import contextvars
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from taskexec_nb.executors.base import AttemptContext
from taskexec_nb.secrets import Masker


class _LazyLog:
    """An attempt's log file, created on the first write (most no-op tasks write nothing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        """Append to the log, creating it (and its directory) on the first write.

        Args:
            data: Output bytes, already masked, written unbuffered.
        """
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
        """The tail as text, unfinished last lines included.

        Args:
            partials: The unfinished last line of each stream feeding this tail,
                as shown (an empty one is left out); they count as its last lines.

        Returns:
            The last ``n`` lines joined by newlines (no newline at the end).
        """
        lines = list(self.lines) + [p for p in partials if p]
        return "\n".join(lines[-(self.lines.maxlen or 1) :])


MAX_LINE = 2000
"""Characters of one output line kept in a tail (the log file keeps every byte)."""

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, links
    r"|\x1b[@-_]?"  # other escapes
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # other control characters (tab stays)
)


def _shown(line: str) -> str:
    """A line as a terminal would end up showing it, without escapes, cut to MAX_LINE.

    A carriage return starts the line over (progress bars); only the last
    MAX_LINE characters of a longer line are kept, after an ellipsis.
    """
    if "\r" in line:
        line = line.rstrip("\r")
        line = line[line.rfind("\r") + 1 :]
    if len(line) > 4 * MAX_LINE:  # cut first: cleaning a huge line costs time
        line = line[-4 * MAX_LINE :]
    line = _CONTROL.sub("", line)
    return line if len(line) <= MAX_LINE else "\u2026" + line[-(MAX_LINE - 1) :]


class _Stream:
    """One output stream: decodes UTF-8 across chunk borders and splits lines.

    The tails get each line as :func:`_shown` makes it; a line with no end yet
    is kept bounded, so a progress bar that never prints a newline costs
    neither memory nor time.
    """

    def __init__(self, name: str, tails: tuple[_Tail, ...], masker: Masker) -> None:
        self.name = name
        self.tails = tails
        self._keep = max(tail.lines.maxlen or 1 for tail in tails)  # lines worth cleaning
        self.partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.masker = masker.stream() if masker else None

    def mask(self, chunk: bytes, final: bool = False) -> bytes:
        """The chunk with secrets masked (a possible secret's start waits for more).

        Args:
            chunk: Raw bytes read from the stream or written to it.
            final: The stream has ended: also release what the masker held back.

        Returns:
            The bytes safe to pass on now: masked, without a trailing part that
            may still turn out to be a secret (unless ``final``).
        """
        if self.masker is None:
            return chunk
        out = self.masker.feed(chunk)
        return out + self.masker.close() if final else out

    def feed(self, chunk: bytes, final: bool = False) -> str:
        """Decode a masked chunk and put its complete lines on the tails.

        Args:
            chunk: Masked bytes, as :meth:`mask` returns them (a UTF-8 character
                may be split across two chunks).
            final: The stream has ended: a character still cut off decodes as U+FFFD.

        Returns:
            The chunk's text as written (newlines and escapes kept), for the
            output events; empty when the chunk only starts a character.
        """
        text = self._decoder.decode(chunk, final)
        if text:
            *complete, rest = text.split("\n")
            if complete:
                complete[0] = self.partial + complete[0]
                self.partial = ""
                lines = [_shown(line) for line in complete[-self._keep :]]
                for tail in self.tails:
                    tail.lines.extend(lines)
            self.partial += rest
            if len(self.partial) > 8 * MAX_LINE:
                # Keep its end (what a terminal shows last), and a CR that may be a CRLF's.
                self.partial = self.partial[-4 * MAX_LINE :]
        return text

    @property
    def shown_partial(self) -> str:
        """The unfinished last line, as the tails would show it."""
        return _shown(self.partial) if self.partial else ""


class _Outputs:
    """An attempt's stdout and stderr streams, and the tails they feed."""

    def __init__(self, tail_lines: int, masker: Masker) -> None:
        self.both, self.errors = _Tail(tail_lines), _Tail(tail_lines)
        self.stdout = _Stream("stdout", (self.both,), masker)
        self.stderr = _Stream("stderr", (self.both, self.errors), masker)

    def tails(self) -> tuple[str, str]:
        """The last lines of all output and of stderr, unfinished last lines included."""
        out, err = self.stdout.shown_partial, self.stderr.shown_partial
        return self.both.text((out, err)), self.errors.text((err,))


_ATTEMPT: contextvars.ContextVar[AttemptOutput | None] = contextvars.ContextVar(
    "taskexec_attempt_output", default=None
)
_LOCK = threading.Lock()
_active = 0
_originals: dict[str, TextIO] = {}


class AttemptOutput:
    """One callable attempt's output: masked into its log, its tails and events.

    Writes from the attempt's worker thread are handed to the event loop, so
    the log, the tails and the observers see them in order and on one thread.
    """

    def __init__(self, ctx: AttemptContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        self._thread = threading.get_ident()
        self._outputs: _Outputs | None = None  # made at the first write: most print nothing
        self._held: dict[str, str] = {}  # the unfinished line of each stream
        self._decoders: dict[str, codecs.IncrementalDecoder] = {}  # for binary writes
        self.log = _LazyLog(ctx.log_path)
        self.closed = False

    def _stream(self, name: str) -> _Stream:
        if self._outputs is None:
            self._outputs = _Outputs(self.ctx.settings.tail_lines, self.ctx.masker)
        return self._outputs.stdout if name == "stdout" else self._outputs.stderr

    def write_bytes(self, name: str, data: bytes) -> None:
        """Take ``data`` written to ``name``'s binary buffer (UTF-8; bad bytes replaced).

        Args:
            name: ``stdout`` or ``stderr``.
            data: The bytes written (a character may be split across two writes).
        """
        decoder = self._decoders.get(name)
        if decoder is None:
            decoder = self._decoders[name] = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data)  # a character split across two writes stays whole
        if text:
            self.write(name, text)

    def write(self, name: str, text: str, flush: bool = False) -> None:
        """Take ``text`` written to ``name`` (stdout or stderr) from any thread.

        Output is line-buffered, as on a terminal: a line goes on when it ends,
        or when the stream is flushed or the attempt ends.

        Args:
            name: ``stdout`` or ``stderr``.
            text: The text written.
            flush: Pass on an unfinished last line now (the stream was flushed).
        """
        if threading.get_ident() == self._thread:
            self._write(name, text, flush)
            return
        try:
            self.loop.call_soon_threadsafe(self._write, name, text, flush)
        except RuntimeError:  # the loop is closed: the attempt is long over
            self._late(text)

    def _write(self, name: str, text: str, flush: bool = False) -> None:
        if self.closed:
            self._late(text)
            return
        held = self._held.get(name, "") + text
        cut = len(held) if flush else held.rfind("\n") + 1
        self._held[name] = held[cut:]
        if cut:
            stream = self._stream(name)
            self._out(stream, stream.mask(held[:cut].encode("utf-8", "replace")))

    def _out(self, stream: _Stream, chunk: bytes) -> None:
        if not chunk:
            return
        self.log.write(chunk)
        shown = stream.feed(chunk)
        if shown:
            # Observers run outside the capture: what they print is theirs, not the
            # attempt's (a print in an observer would otherwise feed itself).
            token = _ATTEMPT.set(None)
            try:
                self.ctx.on_output(stream.name, shown)
            finally:
                _ATTEMPT.reset(token)

    def _late(self, text: str) -> None:
        """Output after the attempt ended (a thread a timeout left running): log only."""
        with contextlib.suppress(OSError), open(self.ctx.log_path, "ab") as f:
            f.write(self.ctx.masker.text(text).encode("utf-8", "replace"))

    def tails(self) -> tuple[str, str]:
        """The last lines of all output and of stderr, unfinished last lines included.

        Returns:
            The tail of all output and the tail of stderr (empty before any output).
        """
        return self._outputs.tails() if self._outputs is not None else ("", "")

    def close(self) -> None:
        """Flush what a masker held back and close the log (later writes append to it)."""
        if self.closed:
            return
        for name, decoder in self._decoders.items():
            self._write(name, decoder.decode(b"", final=True))  # a cut-off character: U+FFFD
        for name in list(self._held):
            self._write(name, "", flush=True)
        if self._outputs is not None:
            for stream in (self._outputs.stdout, self._outputs.stderr):
                self._out(stream, stream.mask(b"", final=True))
                stream.feed(b"", final=True)
        self.closed = True
        self.log.__exit__()
        self.ctx.log_written = self.log.file is not None


class _Redirect:
    """Stands in for ``sys.stdout`` or ``sys.stderr`` while callables run."""

    def __init__(self, name: str, original: TextIO) -> None:
        self._name = name
        self._original = original

    def write(self, text: str) -> int:
        """Write to the current attempt's output, or to the original stream.

        Args:
            text: What was printed.

        Returns:
            The number of characters taken (what the original stream returns
            outside an attempt).

        Raises:
            TypeError: In an attempt, for anything but a ``str`` (as a real stream).
        """
        output = _ATTEMPT.get()
        if output is None:
            return self._original.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        output.write(self._name, text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line, as :meth:`write` does (no newlines are added).

        Args:
            lines: The strings to write, in order.
        """
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the current attempt's unfinished line, or the original stream."""
        output = _ATTEMPT.get()
        if output is None:
            self._original.flush()
        else:
            output.write(self._name, "", flush=True)

    @property
    def buffer(self) -> _BinaryRedirect:
        """The binary layer (``sys.stdout.buffer``), captured as the text layer is.

        Raises:
            AttributeError: Outside an attempt, where the original stream has none.
        """
        if _ATTEMPT.get() is None and not hasattr(self._original, "buffer"):
            raise AttributeError(f"{type(self._original).__name__!r} has no 'buffer'")
        return _BinaryRedirect(self._name, self._original)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _BinaryRedirect:
    """Stands in for ``sys.stdout.buffer`` or ``sys.stderr.buffer`` while callables run."""

    def __init__(self, name: str, original: TextIO) -> None:
        self._name = name
        self._original = original

    def write(self, data: bytes) -> int:
        """Write to the current attempt's output, or to the original stream's buffer.

        Args:
            data: Bytes, a bytearray or any buffer of bytes (UTF-8 in an attempt).

        Returns:
            The number of bytes taken.
        """
        output = _ATTEMPT.get()
        if output is None:
            return int(self._original.buffer.write(data))
        view = memoryview(data).cast("B")  # bytes, bytearray or any buffer, as BufferedWriter
        output.write_bytes(self._name, view.tobytes())
        return view.nbytes

    def flush(self) -> None:
        """Flush the current attempt's unfinished line, or the original buffer."""
        output = _ATTEMPT.get()
        if output is None:
            self._original.buffer.flush()
        else:
            output.write(self._name, "", flush=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original.buffer, name)


def _install() -> None:
    global _active
    with _LOCK:
        _active += 1
        if _active == 1:
            for name in ("stdout", "stderr"):
                current = getattr(sys, name)
                _originals[name] = current
                setattr(sys, name, _Redirect(name, current))


def _uninstall() -> None:
    global _active
    with _LOCK:
        _active -= 1
        if _active == 0:
            for name, original in _originals.items():
                current = getattr(sys, name)
                # Put the stream back only if nobody replaced ours since; otherwise
                # ours stays under theirs, passing everything through.
                if isinstance(current, _Redirect) and current._original is original:
                    setattr(sys, name, original)
            _originals.clear()


def in_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` for a worker thread: capturing stays on until it returns.

    A timeout or cancel cannot stop a thread, and ends its attempt first: what
    the thread prints after that still goes to the attempt's log.

    Args:
        fn: The function the thread runs.

    Returns:
        A function taking the same positional arguments that calls ``fn`` and
        returns what it returns, ending the capture when it does.
    """
    _install()

    def run(*args: Any) -> Any:
        """Call ``fn``, then end this thread's hold on the capture.

        Args:
            *args: The positional arguments for ``fn``.

        Returns:
            What ``fn`` returns (what it raises propagates).
        """
        try:
            return fn(*args)
        finally:
            _uninstall()

    return run


@contextlib.contextmanager
def captured(ctx: AttemptContext) -> Iterator[AttemptOutput]:
    """Send what is printed in this context, and in tasks and threads started from it, to ``ctx``.

    Args:
        ctx: The callable's attempt.

    Yields:
        The attempt's output (closed when the block ends).
    """
    output = AttemptOutput(ctx, asyncio.get_running_loop())
    _install()
    token = _ATTEMPT.set(output)
    try:
        yield output
    finally:
        _ATTEMPT.reset(token)
        _uninstall()
        output.close()
