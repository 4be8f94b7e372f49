"""Ticking ``[X]`` in tasks.md after verified success: atomic, byte-exact, never clobbering.

Only the one space (or the ``/`` of an in-progress ``[/]``) inside the task's checkbox
changes; every other byte (line endings, encoding, BOM, spacing) stays. The file is
replaced atomically (a temporary file in the same folder, then ``os.replace``); a file
with other hard links is written in place instead (the one changed byte, so every link
sees the tick and the file keeps its inode). A read-only file (see :func:`read_only`) is
not ticked at all: the run says so once. If the file on disk
is not the one the plan was loaded from (or last written by us), nothing is
written and the conflict is reported instead, unless all that changed is boxes
ticked (by another run of the same file, or by hand): then the tick goes on top
of those. The check is made again just before the replace, so only an edit saved
in the microseconds between that check and the rename could be lost (POSIX has no
compare-and-swap for files). :meth:`CheckboxWriter.tick_many` ticks many boxes in
one read, one check and one write (a run's ticks, written together by
:class:`~taskexec_nb.run.ticking.PendingTicks`).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from taskexec_nb._sha import sha256_hex

# A box at the start of a list item, a heading (### [ ] T005) or a table row's first cell
# (| [ ] | T004 |, or a row written without its leading pipe).
_BOX_RE = re.compile(
    rb"^((?:\xef\xbb\xbf)?[ \t]*(?:>[ \t]*)*"
    rb"(?:(?:[-*+]|\d+[.)])[ \t]+|\#{1,6}[ \t]+|\|[ \t]*|(?=\[.\][ \t]*\|)))\[([ xX/])\]"
)
# A table row's status cell after the task's ID (| T004 | Write the test | [ ] |).
_ROW_RE = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t]*(?:>[ \t]*)*\|")
_STATUS_CELL_RE = re.compile(rb"\|[ \t]*\[([ xX/~-])\][ \t]*(?=\||[\r\n]*$)")
_HEADING_RE = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t]{0,3}#{1,6}[ \t]")
_OWN_ID_RE = re.compile(rb"[ \t]*[*_~]*(?:\[[^\]\n]{1,30}\][ \t]*)*[*_~]*T(?:-[A-Z]+)?\d")
_FIRST_ID_RE = re.compile(rb"T(?:-[A-Z]+)?\d+(?:\.\d+)?[a-z]?(?:-[A-Z])?(?![\w.])")


def digest(data: bytes) -> str:
    """SHA-256 of file content, as hex.

    Args:
        data: The file's bytes.

    Returns:
        The 64 hex digits of the digest.
    """
    return sha256_hex(data)


def line_span(data: bytes, line: int) -> tuple[int, int] | None:
    """Byte offsets [start, end) of a 1-based line, counting LF, CRLF and CR as line ends.

    Args:
        data: The file's bytes.
        line: The line number, 1 for the first line.

    Returns:
        The offsets of the line's first byte and of its line end (the data's end
        for a last line with none), or None when the file has fewer lines.
    """
    start = 0
    for _ in range(line - 1):
        nl = data.find(b"\n", start)
        cr = data.find(b"\r", start)
        if nl == -1 and cr == -1:
            return None
        if cr != -1 and (nl == -1 or cr < nl):
            start = cr + 2 if data[cr + 1 : cr + 2] == b"\n" else cr + 1
        else:
            start = nl + 1
    ends = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i != -1]
    return start, min(ends) if ends else len(data)


def tick(data: bytes, line: int, task_id: str, task_line: int | None = None) -> bytes | None:
    """Return ``data`` with the checkbox of ``task_id`` at ``line`` ticked.

    The first ID after the box must be ``task_id``; or, for a heading task whose
    box is its body's first list item (``- [ ] **Description**: ...``), no ID may
    start right after the box and ``task_line`` must be a heading naming ``task_id``.

    Args:
        data: The file's content.
        line: 1-based line of the box.
        task_id: The task whose box it is.
        task_line: 1-based line of the task's heading, when the box is in its body.

    Returns:
        The new bytes (unchanged if already ticked), or None if that line does not
        hold ``task_id``'s checkbox.
    """
    pos = _box_mark(data, functools.partial(line_span, data), line, task_id, task_line)
    if pos is None:
        return None
    if data[pos : pos + 1] in (b"x", b"X"):
        return data
    return data[:pos] + b"X" + data[pos + 1 :]


Spans = Callable[[int], tuple[int, int] | None]
"""A file's line spans by 1-based line number (:func:`line_span`, or :func:`line_index`)."""


def line_index(data: bytes) -> Spans:
    """What :func:`line_span` says of every line of ``data``, found in one pass.

    A tick changes no line end, so the index of a file holds for it ticked too.

    Args:
        data: The file's bytes.

    Returns:
        A function of the 1-based line number giving its span, as :func:`line_span`.
    """
    lines = data.splitlines(keepends=True)  # bytes end lines at LF, CRLF and CR only
    starts = list(itertools.accumulate(map(len, lines), initial=0))
    last_ended = not lines or lines[-1].endswith((b"\n", b"\r"))

    def span(line: int) -> tuple[int, int] | None:
        """The byte span of a line's text, its line end left out.

        Args:
            line: The 1-based line number.

        Returns:
            ``(start, end)`` offsets in ``data``, or None past the file's last line.
        """
        at = line - 1
        if 0 <= at < len(lines):
            return starts[at], starts[at] + len(lines[at].rstrip(b"\r\n"))
        if at == len(lines) and last_ended:  # the empty line after a last line end
            return len(data), len(data)
        return None

    return span


def _box_mark(
    data: bytes, spans: Spans, line: int, task_id: str, task_line: int | None
) -> int | None:
    """Offset of the mark inside ``task_id``'s box at ``line`` (see :func:`tick`), or None."""
    span = spans(line)
    if span is None:
        return None
    start, end = span
    text = data[start:end]
    m = _BOX_RE.match(text)
    if m is None:
        status = _status_cell(text)
        return start + status[0] if status and status[1] == task_id.encode() else None
    first = _FIRST_ID_RE.search(text, m.end())
    if first is None or first.group() != task_id.encode():
        # Not this task's own box: it may still be the box in its heading's body.
        if task_line is None or task_line == line or _OWN_ID_RE.match(text, m.end()):
            return None
        if not _heading_names(data, spans(task_line), task_id):
            return None
    return start + m.start(2)


def _status_cell(text: bytes) -> tuple[int, bytes] | None:
    """The offset of the mark in a table row's last box cell, and the row's first ID, or None."""
    if not _ROW_RE.match(text):
        return None
    first = _FIRST_ID_RE.search(text)
    cells = list(_STATUS_CELL_RE.finditer(text, first.end())) if first else []
    if first is None or not cells or cells[-1].group(1) in (b"~", b"-"):
        return None
    return cells[-1].start(1), first.group()  # the last box cell, as the parser reads it


def _heading_names(data: bytes, span: tuple[int, int] | None, task_id: str) -> bool:
    """Whether the line at ``span`` is a heading whose first task ID is ``task_id``."""
    if span is None:
        return False
    text = data[span[0] : span[1]]
    head = _HEADING_RE.match(text)
    first = _FIRST_ID_RE.search(text, head.end()) if head else None
    return first is not None and first.group() == task_id.encode()


def only_ticked(before: bytes, after: bytes) -> bool:
    """Whether ``after`` is ``before`` with some empty task boxes ticked, and nothing else.

    Args:
        before: The content as last known.
        after: The content now.

    Returns:
        True if every changed line only turns a ``[ ]`` (or an in-progress ``[/]``) into
        ``[x]`` or ``[X]``.
    """
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    if len(old) != len(new):
        return False
    for was, now in zip(old, new, strict=True):
        if was == now:
            continue
        m = _BOX_RE.match(was)
        status = None if m else _status_cell(was)
        pos = m.start(2) if m else status[0] if status else -1
        if pos < 0 or was[pos : pos + 1] not in (b" ", b"/"):
            return False
        if now[pos : pos + 1] not in (b"x", b"X") or (now[:pos], now[pos + 1 :]) != (
            was[:pos],
            was[pos + 1 :],
        ):
            return False
    return True


def read_only(path: Path) -> str | None:
    """Why a tasks.md must not be ticked because of its permissions, or None if it may.

    A file is read-only when you may not write it, or when its permission bits give
    you no write permission: its owner's ``w`` bit if you own it, anyone's if not
    (``chmod a-w``). The bits count for root too, who could write the file anyway.

    Args:
        path: The tasks.md.

    Returns:
        The reason (naming the file and its mode), or None.
    """
    try:
        info = path.stat()
    except OSError:
        return None  # reading it to tick tells what is wrong
    bits = stat.S_IWUSR if info.st_uid == os.geteuid() else 0o222
    if os.access(path, os.W_OK) and info.st_mode & bits:
        return None
    mode = stat.filemode(info.st_mode)
    return f"{path} is read-only (mode {mode[1:]}; no write permission for you)"


def _make_writable(path: Path) -> str:
    """How to make a read-only tasks.md writable: ``chmod u+w`` if it is yours, else whose it is."""
    try:
        owner = path.stat().st_uid
    except OSError:
        owner = os.geteuid()
    if owner == os.geteuid():
        return "make it writable (chmod u+w) to have them ticked"
    try:
        import pwd

        name = f"{pwd.getpwuid(owner).pw_name} (uid {owner})"
    except (ImportError, KeyError):
        name = f"uid {owner}"
    return (
        f"it belongs to {name}: to have them ticked, its owner may let you write it, "
        "or run a copy of your own"
    )


Box = tuple[str, int, int | None]
"""A task's box: (task ID, 1-based line of the box, line of the task's heading or None)."""

_ATTEMPTS = 5
"""How often a tick is tried again when other runs keep ticking the same file."""


class CheckboxWriter:
    """Ticks tasks in one tasks.md, guarding against edits made meanwhile.

    Args:
        path: The tasks.md.
        expected_digest: Digest of the content the plan was loaded from.
        expected_data: That content, if known: then boxes ticked meanwhile (and only
            that) are not a conflict.
    """

    def __init__(self, path: Path, expected_digest: str, expected_data: bytes = b"") -> None:
        # Through a symlink, the file it points to is the one to change (not the link).
        self.path = Path(os.path.realpath(path))
        self.expected = expected_digest
        self.data = expected_data if digest(expected_data) == expected_digest else b""
        self.ticked: list[str] = []  # tasks whose boxes this writer ticked (or found ticked)
        self.unticked: list[str] = []  # tasks not ticked because the file changed on disk
        self.left: list[str] = []  # tasks not ticked because the file is read-only

    def quiet(self, task_id: str) -> bool:
        """Whether a box left unticked is summed up at the run's end, not told again now.

        The first box left because the file changed, and the first left because it
        is read-only, are told when they happen; the later ones of each only repeat
        the reason, so :meth:`summary` names them all once.

        Args:
            task_id: A task :meth:`tick` did not tick.

        Returns:
            True for a later one of its kind.
        """
        return task_id in self.unticked[1:] or task_id in self.left[1:]

    def tick(self, task_id: str, line: int, task_line: int | None = None) -> str | None:
        """Tick one task's box (:meth:`tick_many` with one box).

        Args:
            task_id: The task.
            line: 1-based line of its box.
            task_line: 1-based line of the task's heading, when the box is in its body.

        Returns:
            None when ticked (or already ticked); otherwise why nothing was written.
        """
        return self.tick_many([(task_id, line, task_line)])[0]

    def tick_many(self, boxes: Sequence[Box]) -> list[str | None]:
        """Tick several tasks' boxes in one write: one read, one check, one replace.

        The file is read and checked once for all of them, and written once, under
        the same rules as a single tick: a file changed on disk (other than by boxes
        ticked meanwhile) gets none of them, and says so for each.

        Args:
            boxes: (task ID, 1-based line of its box, line of its heading when the
                box is in its body, else None) of each task.

        Returns:
            For each box, in order: None when ticked (or already ticked); otherwise
            why it was not.
        """
        if not boxes:
            return []
        ids = [box[0] for box in boxes]
        locked = read_only(self.path)
        if locked is not None:
            self.left.extend(ids)
            return [
                f"{locked}: its boxes are left as they are; {task_id} and the tasks this run "
                "completes after it are not ticked (their results are in the state store); "
                f"{_make_writable(self.path)}"
                for task_id in ids
            ]
        raced = False
        for _ in range(_ATTEMPTS):
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                why = exc.strerror or exc
                return [f"{self.path}: cannot read to tick {task_id}: {why}" for task_id in ids]
            if digest(data) != self.expected:
                if not (self.data and only_ticked(self.data, data)):
                    break
                self._accept(data)  # only boxes ticked meanwhile: tick on top of them
            new, missing = self._marked(data, boxes)
            if new != data:
                try:
                    # Checked again just before the replace: an edit saved while the new
                    # content was written and synced is not lost.
                    write = _write_in_place if _linked(self.path) else _atomic_write
                    written = write(self.path, new, functools.partial(_same, self.path, data))
                except OSError as exc:
                    why = exc.strerror or exc
                    return [
                        missing[n] or f"{self.path}: cannot write to tick {task_id}: {why}"
                        for n, task_id in enumerate(ids)
                    ]
                if not written:
                    raced = True
                    continue  # read again: another tick is not a conflict, an edit is
            self._accept(new)
            self.ticked.extend(t for t, why in zip(ids, missing, strict=True) if why is None)
            return missing
        self.unticked.extend(ids)
        return [
            f"{self.path} changed on disk "
            + (
                f"while {task_id} was being ticked; it"
                if raced
                else f"since it was loaded; {task_id}"
            )
            + " was not ticked (nothing was overwritten): tick it by hand, or resume the run"
            " once it ends (a resume ticks the tasks it completed, without running them again)"
            for task_id in ids
        ]

    def _marked(self, data: bytes, boxes: Sequence[Box]) -> tuple[bytes, list[str | None]]:
        """``data`` with every box found ticked, and why each one not found was not."""
        new = bytearray(data)
        spans = line_index(data)
        missing: list[str | None] = []
        for task_id, line, task_line in boxes:
            pos = _box_mark(data, spans, line, task_id, task_line)
            if pos is None:
                missing.append(
                    f"{self.path}:{line}: no checkbox of {task_id} there; it was not ticked"
                )
                continue
            if new[pos] not in b"xX":
                new[pos] = ord("X")
            missing.append(None)
        return bytes(new), missing

    def _accept(self, data: bytes) -> None:
        self.expected = digest(data)
        if self.data:
            self.data = data

    def summary(self, resume: Callable[[], str] | None = None) -> str | None:
        """The run's last word on boxes left unticked, when more than one was of a kind.

        Args:
            resume: Makes the command that resumes the run, named as the way to tick
                the boxes left because the file changed (a new run would run them
                again); called only then.

        Returns:
            A line for the boxes left because the file changed, and one for those left
            because it is read-only, each naming the tasks (None when there is nothing
            the notices told at the time did not say).
        """
        lines = []
        if len(self.unticked) > 1:
            lines.append(
                f"{self.path} changed on disk during the run: {len(self.unticked)} completed "
                f"task(s) were not ticked: {_names(self.unticked)} (nothing was overwritten; "
                "their results are in the state store): tick them by hand, or resume the run, "
                "which ticks them without running them again" + (f": {resume()}" if resume else "")
            )
        if len(self.left) > 1:
            lines.append(
                f"{self.path} is read-only: {len(self.left)} completed task(s) were not "
                f"ticked: {_names(self.left)} (their results are in the state store)"
            )
        return "\n".join(lines) or None


def _names(task_ids: list[str]) -> str:
    """Up to ten task IDs, and how many more."""
    more = f" and {len(task_ids) - 10} more" if len(task_ids) > 10 else ""
    return ", ".join(task_ids[:10]) + more


def _linked(path: Path) -> bool:
    """Whether the file has other hard links (a rename would part it from them)."""
    try:
        return path.stat().st_nlink > 1
    except OSError:
        return False


def _same(path: Path, data: bytes) -> bool:
    return path.read_bytes() == data


def _write_in_place(path: Path, data: bytes, unchanged: Callable[[], bool]) -> bool:
    """Write the bytes of ``data`` that differ from the file into it, if still ``unchanged()``.

    A tick changes one byte and no length, so the file keeps its inode (and every
    hard link to it sees the tick) and is never seen half written.

    Returns:
        Whether the file was written.
    """
    with open(path, "r+b") as f:
        old = f.read()
        if len(old) != len(data) or not unchanged():
            return False
        for at in (i for i, (a, b) in enumerate(zip(old, data, strict=True)) if a != b):
            f.seek(at)
            f.write(data[at : at + 1])
        f.flush()
        os.fsync(f.fileno())
    return True


def _atomic_write(path: Path, data: bytes, unchanged: Callable[[], bool]) -> bool:
    """Replace ``path`` with ``data`` through a synced temporary file, if still ``unchanged()``.

    The new file gets the old one's mode, owner and group. Where it cannot (the
    folder may not be written, or the file is someone else's and we may not give
    the new file to them, e.g. a group-writable file of a colleague), the file is
    written in place instead, so a tick never takes a file from its owner.

    Returns:
        Whether the file was replaced.
    """
    st = path.stat()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError:
        return _write_in_place(path, data, unchanged)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        created = os.stat(tmp)
        if (created.st_uid, created.st_gid) != (st.st_uid, st.st_gid):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                os.unlink(tmp)
                return _write_in_place(path, data, unchanged)
        if not unchanged():
            os.unlink(tmp)
            return False
        os.replace(tmp, path)
        return True
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
