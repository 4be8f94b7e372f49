"""Notebook kernels that talk over Unix sockets, not TCP ports.

papermill's kernels listen on five TCP ports by default, which the client picks
by binding and releasing free ones: two kernels starting at the same moment (two
``[P]`` notebook tasks, or a batch report beside one) can pick the same port,
and one of them dies before it replies. ipykernel also warns on every start that
TCP traffic is not encrypted. Over IPC the kernel's sockets are files with a
name of their own in the user's private Jupyter runtime folder (or the temporary
folder when that path would be too long for a socket), so no two kernels can
collide, nothing listens on the network, and the warning is not printed.

``python -m taskexec_nb.executors.kernels ARGS`` is ``python -m papermill ARGS``
with such kernels (what the notebook executor runs).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from typing import Any

_SOCKET_PATH_MAX = 100
"""Longest socket path used (Linux allows 107 bytes; the kernel adds ``-N``)."""


def socket_prefix() -> str:
    """A fresh path prefix for one kernel's sockets (``PREFIX-1`` ... ``PREFIX-5``).

    Returns:
        A path in the Jupyter runtime folder (private to the user), or in the
        temporary folder when that one's path is too long for a socket.
    """
    from jupyter_core.paths import jupyter_runtime_dir

    name = f"taskexec-kernel-{secrets.token_hex(6)}"
    folder = jupyter_runtime_dir()
    if len(os.path.join(folder, name)) > _SOCKET_PATH_MAX - 3:
        folder = tempfile.gettempdir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, name)


def ipc_kernel_manager() -> type[Any]:
    """The kernel manager class papermill (nbclient) gets: IPC sockets of a fresh name.

    Returns:
        A subclass of ``jupyter_client``'s ``AsyncKernelManager``; its sockets are
        removed when the kernel shuts down.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        """An ``AsyncKernelManager`` with ``transport="ipc"`` and a unique socket path."""

        def __init__(self, **kwargs: Any) -> None:
            """Make the manager; a transport or ip given by the caller wins.

            Args:
                kwargs: As ``AsyncKernelManager`` takes them.
            """
            kwargs.setdefault("transport", "ipc")
            if kwargs["transport"] == "ipc":
                kwargs.setdefault("ip", socket_prefix())
            super().__init__(**kwargs)

    return IPCKernelManager


def main(argv: list[str] | None = None) -> None:
    """Run papermill's command line with IPC kernels.

    Args:
        argv: papermill's arguments (default: this process's).
    """
    import functools

    import papermill.cli
    from papermill.execute import execute_notebook

    papermill.cli.execute_notebook = functools.partial(  # the command calls this name
        execute_notebook, kernel_manager_class=ipc_kernel_manager()
    )
    papermill.cli.papermill.main(args=sys.argv[1:] if argv is None else argv, prog_name="papermill")


if __name__ == "__main__":  # pragma: no cover - run as a process by the notebook executor
    main()
