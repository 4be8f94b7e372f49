"""SHA-256 digests without hashlib (taskexec_nb._sha)."""

from __future__ import annotations

import hashlib

from conftest import compiled_on_import

from taskexec_nb._sha import sha256_hex


def test_the_digest_is_hashlibs() -> None:
    for data in (b"", b"abc", "é 依赖\n".encode(), bytes(range(256)) * 300):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_importing_it_loads_no_openssl() -> None:
    assert compiled_on_import("taskexec_nb._sha") == []  # and, in a fresh process:
    import os
    import subprocess
    import sys

    # Without coverage's start-up in the child (under `make test` it measures the
    # processes tests start, and imports hashlib itself).
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    code = "import sys, taskexec_nb._sha as s; s.sha256_hex(b'x'); print('hashlib' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "False"
