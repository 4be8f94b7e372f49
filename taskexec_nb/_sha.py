"""SHA-256 digests without importing :mod:`hashlib`.

``hashlib`` loads OpenSSL's library on import (2 to 4 ms of every command that
hashes a file or a name); CPython's own SHA-256 module gives the same digests,
and the few kilobytes hashed here take it no longer.
"""

from __future__ import annotations


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex.

    Args:
        data: The bytes.

    Returns:
        The 64-character hex digest, as ``hashlib.sha256(data).hexdigest()``.
    """
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # CPython 3.10, 3.11
    except ImportError:  # pragma: no cover - CPython 3.12 renamed it; other Pythons
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    return str(sha256(data).hexdigest())
