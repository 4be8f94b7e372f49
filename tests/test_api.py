"""The notebook API's entry points: load and loads."""

from __future__ import annotations

import taskexec_nb


def test_loads_reads_bytes_as_a_file_is_read() -> None:
    plan = taskexec_nb.loads("\ufeff- [ ] T001 Café\n".encode())
    assert plan["T001"].description == "Café"
