"""Secrets: environment values passed to tasks but never shown.

A variable is secret when the settings list it in ``secrets`` or when its name
contains ``TOKEN``, ``SECRET``, ``PASSWORD`` or ``KEY`` (any case). Its value
reaches the task unchanged; everywhere taskexec writes or shows text (log
files, events, the state store, reports, displays) it reads ``****``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "****"
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "KEY")
# A value this short is masked only when the variable is named in ``secrets``: a
# pattern match on e.g. ``USE_KEYRING=1`` must not turn every "1" into "****".
MIN_PATTERN_VALUE = 4


def is_secret_name(name: str, marked: Iterable[str] = ()) -> bool:
    """Whether a variable's value must be masked.

    Args:
        name: The variable's name.
        marked: Names listed as secret in the settings.

    Returns:
        True for a marked name or one matching the secret name patterns.
    """
    upper = name.upper()
    return name in set(marked) or any(part in upper for part in SECRET_NAME_PARTS)


def secret_values(env: Mapping[str, str], marked: Iterable[str] = ()) -> set[str]:
    """The values of an environment that must not be shown.

    Args:
        env: Variable names and values.
        marked: Names listed as secret in the settings.

    Returns:
        The values to mask.
    """
    marked = set(marked)
    out = set()
    for name, value in env.items():
        if not value:
            continue
        if name in marked or (
            len(value) >= MIN_PATTERN_VALUE and is_secret_name(name) and not value.isspace()
        ):
            out.add(value)
    return out


def mask_env(env: Mapping[str, str], marked: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``env`` for display, secret values replaced by ``****``."""
    marked = set(marked)
    return {k: (MASK if is_secret_name(k, marked) and v else v) for k, v in env.items()}


class Masker:
    """Replaces secret values in text and bytes.

    Args:
        values: The secret values (empty ones are ignored).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = tuple(sorted({v for v in values if v}, key=len, reverse=True))
        self.longest = len(self.values[0].encode()) if self.values else 0
        if self.values:
            self._text: re.Pattern[str] | None = re.compile("|".join(map(re.escape, self.values)))
            self._bytes: re.Pattern[bytes] | None = re.compile(
                b"|".join(re.escape(v.encode()) for v in self.values)
            )
        else:
            self._text = self._bytes = None

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``****``."""
        return self._text.sub(MASK, value) if self._text is not None and value else value

    def data(self, value: bytes) -> bytes:
        """Bytes with every secret (UTF-8) replaced by ``****``."""
        if self._bytes is None or not value:
            return value
        return self._bytes.sub(MASK.encode(), value)

    def optional(self, value: str | None) -> str | None:
        """Like :meth:`text`, passing None through."""
        return None if value is None else self.text(value)

    def stream(self) -> StreamMasker:
        """A masker for a byte stream that arrives in chunks."""
        return StreamMasker(self)


class StreamMasker:
    """Masks a chunked byte stream without missing a secret split across chunks.

    Everything goes out at once except a chunk's last bytes when they are the
    start of a secret: those wait for the next chunk (or :meth:`close`).
    """

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._secrets = [v.encode() for v in masker.values]
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Mask what can be decided now; return it."""
        pattern = self.masker._bytes
        if pattern is None:
            return chunk
        data = self._held + chunk
        out: list[bytes] = []
        pos = 0
        for match in pattern.finditer(data):
            out.append(data[pos : match.start()])
            out.append(MASK.encode())
            pos = match.end()
        hold = len(data)
        for start in range(max(pos, len(data) - self.masker.longest + 1), len(data)):
            tail = data[start:]
            if any(secret.startswith(tail) for secret in self._secrets):
                hold = start
                break
        out.append(data[pos:hold])
        self._held = data[hold:]
        return b"".join(out)

    def close(self) -> bytes:
        """Return whatever is still held (an unfinished secret start is shown as is)."""
        held, self._held = self._held, b""
        return held
