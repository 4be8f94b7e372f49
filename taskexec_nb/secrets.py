"""Secrets: environment values passed to tasks but never shown.

A variable is secret when the settings list it in ``secrets`` or when its name
contains ``TOKEN``, ``SECRET``, ``PASSWORD`` or ``KEY`` (any case). Its value
reaches the task unchanged; everywhere taskexec writes or shows text (log
files, events, the state store, reports, displays) it reads ``****``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import AnyStr

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


_NOT_SECRET_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null"})


def _looks_secret(value: str) -> bool:
    """For a variable only *named* like a secret: skip flags and small numbers."""
    text = value.strip()
    if len(text) < MIN_PATTERN_VALUE or text.lower() in _NOT_SECRET_WORDS:
        return False
    return not (text.isdigit() and len(text) < 8)  # e.g. TOKEN_TTL=3600


def secret_values(env: Mapping[str, str], marked: Iterable[str] = ()) -> set[str]:
    """The values of an environment that must not be shown.

    Args:
        env: Variable names and values.
        marked: Names listed as secret in the settings (always masked).

    Returns:
        The values to mask.
    """
    marked = set(marked)
    return {value for name, value in env.items() if _is_secret(name, value, marked)}


def _is_secret(name: str, value: str, marked: set[str]) -> bool:
    """Whether this variable's value is masked (marked, or a secret-looking name and value)."""
    return bool(value) and (name in marked or (is_secret_name(name) and _looks_secret(value)))


def mask_env(env: Mapping[str, str], marked: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``env`` for display.

    Secret variables read ``****``, and a secret value inside another variable
    (``DATABASE_URL=postgres://u:${DB_PASSWORD}@h``) is masked there too.

    Args:
        env: The environment variables, name to value.
        marked: Names listed as secret in the settings, masked whatever their
            value; other variables are masked when their name matches the secret
            name patterns and their value looks like a secret.

    Returns:
        The same names, with secret values (whole or inside other values) masked.
    """
    marked = set(marked)
    masker = Masker(secret_values(env, marked))
    return {k: MASK if _is_secret(k, v, marked) else masker.text(v) for k, v in env.items()}


def _spans(haystack: AnyStr, needles: Iterable[AnyStr]) -> list[tuple[int, int]]:
    """Where any needle occurs, overlapping occurrences merged, in order."""
    found = []
    for needle in needles:
        start = haystack.find(needle)
        while start != -1:
            found.append((start, start + len(needle)))
            start = haystack.find(needle, start + 1)
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Masker:
    """Replaces secret values in text and bytes.

    Overlapping or nested secrets are masked as one span, so no piece of any
    secret shows.

    Args:
        values: The secret values (empty ones are ignored).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = tuple(sorted({v for v in values if v}, key=len, reverse=True))
        self.encoded = tuple(v.encode() for v in self.values)
        self.longest = max((len(v) for v in self.encoded), default=0)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``****``.

        Args:
            value: The text to mask.

        Returns:
            The text with each occurrence of a secret masked (unchanged if none).
        """
        if not self.values or not value:
            return value
        return _replace(value, _spans(value, self.values), MASK)

    def data(self, value: bytes) -> bytes:
        """Bytes with every secret (UTF-8) replaced by ``****``.

        Args:
            value: The bytes to mask (e.g. a task's output).

        Returns:
            The bytes with each occurrence of a secret's UTF-8 encoding masked.
        """
        if not self.values or not value:
            return value
        return _replace(value, _spans(value, self.encoded), MASK.encode())

    def optional(self, value: str | None) -> str | None:
        """Like :meth:`text`, passing None through.

        Args:
            value: The text to mask, or None.

        Returns:
            The masked text, or None when ``value`` is None.
        """
        return None if value is None else self.text(value)

    def stream(self) -> StreamMasker:
        """A masker for a byte stream that arrives in chunks.

        Returns:
            A new :class:`StreamMasker` masking this masker's secrets, even one split
            across two chunks.
        """
        return StreamMasker(self)


def _replace(value: AnyStr, spans: list[tuple[int, int]], mask: AnyStr) -> AnyStr:
    if not spans:
        return value
    parts: list[AnyStr] = []
    pos = 0
    for start, end in spans:
        parts += [value[pos:start], mask]
        pos = end
    parts.append(value[pos:])
    return value[:0].join(parts)


class StreamMasker:
    """Masks a chunked byte stream without showing any piece of a secret.

    Everything goes out at once except a chunk's last bytes when a secret may
    be in progress there (a secret's start, or a secret that a longer one could
    extend): those wait for the next chunk (or :meth:`close`).
    """

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Mask what can be decided now; return it.

        The end of the data that could be the start of a secret is held back until
        the next chunk (or :meth:`close`) shows whether it is one.

        Args:
            chunk: The next bytes of the stream.

        Returns:
            The masked bytes that are safe to pass on (possibly empty).
        """
        secrets = self.masker.encoded
        if not secrets:
            return chunk
        data = self._held + chunk
        hold = len(data)
        for start in range(max(0, len(data) - self.masker.longest + 1), len(data)):
            tail = data[start:]
            if any(len(s) > len(tail) and s.startswith(tail) for s in secrets):
                hold = start
                break
        spans = _spans(data, secrets)
        for start, end in spans:  # a masked span must not be cut where we stop
            if start < hold < end:
                hold = start
        self._held = data[hold:]
        return _replace(data[:hold], [(s, e) for s, e in spans if e <= hold], MASK.encode())

    def close(self) -> bytes:
        """Mask and return whatever is still held.

        Returns:
            The masked rest of the stream (empty if nothing was held back).
        """
        held, self._held = self._held, b""
        return self.masker.data(held)
