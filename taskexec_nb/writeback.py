"""Ticking ``[X]`` in tasks.md after verified success: atomic, byte-exact, never clobbering.

Only the one space inside the task's checkbox changes; every other byte (line
endings, encoding, BOM, spacing) stays. The file is replaced atomically (a
temporary file in the same folder, then ``os.replace``). If the file on disk
is not the one the plan was loaded from (or last written by us), nothing is
written and the conflict is reported instead. The check is made again just before
the replace, so only an edit saved in the microseconds between that check and the
rename could be lost (POSIX has no compare-and-swap for files).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

_BOX_RE = re.compile(rb"^((?:\xef\xbb\xbf)?[ \t]*(?:>[ \t]*)*(?:[-*+]|\d+[.)])[ \t]+)\[([ xX])\]")
_FIRST_ID_RE = re.compile(rb"T(?:-[A-Z]+)?\d+(?:\.\d+)?[a-z]?(?![\w.])")


def digest(data: bytes) -> str:
    """SHA-256 of file content, as hex."""
    return hashlib.sha256(data).hexdigest()


def line_span(data: bytes, line: int) -> tuple[int, int] | None:
    """Byte offsets [start, end) of a 1-based line, counting LF, CRLF and CR as line ends."""
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


def tick(data: bytes, line: int, task_id: str) -> bytes | None:
    """Return ``data`` with the checkbox of ``task_id`` at ``line`` ticked.

    Returns:
        The new bytes (unchanged if already ticked), or None if that line does not
        hold ``task_id``'s checkbox.
    """
    span = line_span(data, line)
    if span is None:
        return None
    start, end = span
    text = data[start:end]
    m = _BOX_RE.match(text)
    first = _FIRST_ID_RE.search(text, m.end()) if m else None
    if m is None or first is None or first.group() != task_id.encode():
        return None  # the first ID after the box must be this task's
    if m.group(2) != b" ":
        return data
    pos = start + m.start(2)
    return data[:pos] + b"X" + data[pos + 1 :]


class CheckboxWriter:
    """Ticks tasks in one tasks.md, guarding against edits made meanwhile.

    Args:
        path: The tasks.md.
        expected_digest: Digest of the content the plan was loaded from.
    """

    def __init__(self, path: Path, expected_digest: str) -> None:
        # Through a symlink, the file it points to is the one to change (not the link).
        self.path = Path(os.path.realpath(path))
        self.expected = expected_digest
        self.ticked: list[str] = []  # tasks whose boxes this writer ticked (or found ticked)
        self.unticked: list[str] = []  # tasks not ticked because the file changed on disk

    def tick(self, task_id: str, line: int) -> str | None:
        """Tick one task's box.

        Returns:
            None when ticked (or already ticked); otherwise why nothing was written.
        """
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            return f"{self.path}: cannot read to tick {task_id}: {exc.strerror or exc}"
        if digest(data) != self.expected:
            self.unticked.append(task_id)
            return (
                f"{self.path} changed on disk since it was loaded; {task_id} was not ticked "
                "(nothing was overwritten): reload the file or tick it by hand"
            )
        new = tick(data, line, task_id)
        if new is None:
            return f"{self.path}:{line}: no checkbox of {task_id} there; it was not ticked"
        if new != data:
            try:
                # Checked again just before the replace: an edit saved while the new
                # content was written and synced is not lost.
                written = _atomic_write(
                    self.path, new, lambda: digest(self.path.read_bytes()) == self.expected
                )
            except OSError as exc:
                return f"{self.path}: cannot write to tick {task_id}: {exc.strerror or exc}"
            if not written:
                self.unticked.append(task_id)
                return (
                    f"{self.path} changed on disk while {task_id} was being ticked; it was "
                    "not ticked (nothing was overwritten): reload the file or tick it by hand"
                )
        self.expected = digest(new)
        self.ticked.append(task_id)
        return None

    def summary(self) -> str | None:
        """One line for every box left unticked because the file changed (None if none)."""
        if not self.unticked:
            return None
        shown = ", ".join(self.unticked[:10])
        more = f" and {len(self.unticked) - 10} more" if len(self.unticked) > 10 else ""
        return (
            f"{self.path} changed on disk during the run: {len(self.unticked)} completed "
            f"task(s) were not ticked: {shown}{more} (nothing was overwritten; their results "
            "are in the state store): tick them by hand, or reload the file"
        )


def _atomic_write(path: Path, data: bytes, unchanged: Callable[[], bool]) -> bool:
    """Replace ``path`` with ``data`` through a synced temporary file, if still ``unchanged()``.

    Returns:
        Whether the file was replaced.
    """
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if not unchanged():
            os.unlink(tmp)
            return False
        os.replace(tmp, path)
        return True
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
