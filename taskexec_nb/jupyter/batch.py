"""Batch runs: the report notebook, run through papermill.

The notebook (``report.ipynb``, shipped in this package; ``notebooks/report.ipynb``
in the repository is the same file) has a cell tagged ``parameters``; papermill
writes the values given here after it and runs every cell: load the tasks.md,
run it (or pick a past run), render the report (summary, tables, figures) and,
when the run did not complete, end with :class:`~taskexec_nb.errors.RunFailedError`
so a batch job fails. :func:`run_notebook` (and ``taskexec notebook``) runs it;
the executed notebook is written whether or not a cell failed.

The notebook's cells call the helpers below (:func:`tasks_path`,
:func:`run_arguments`, :func:`nothing_to_run`, :func:`check_completed`), so what
they do is typed and tested here rather than in notebook code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import NotebookError, RunFailedError, UsageError

if TYPE_CHECKING:
    from taskexec_nb.report.tables import ExecutionReport

NOTEBOOK_NAME = "report.ipynb"
"""The report notebook's file name, in this package and in ``notebooks/``."""

PARAMETERS: dict[str, Any] = {
    "tasks": "",
    "profile": "",
    "mode": "",
    "workers": 0,
    "only": "",
    "from_task": "",
    "until": "",
    "run_id": "",
    "html_report": "",
    "require_success": True,
}
"""The report notebook's parameters and their defaults (its ``parameters`` cell).

* ``tasks``: the tasks.md (``""``: a scratch copy of ``../examples/tasks.md``, a demo);
* ``profile``, ``mode``: the config profile and dependency mode (``""``: configured);
* ``workers``: ``max_workers`` (0: configured);
* ``only``, ``from_task``, ``until``: the selection, as ``taskexec run`` takes it;
* ``run_id``: report this past run (or ``latest``) instead of running now;
* ``html_report``: also write the self-contained HTML report to this path;
* ``require_success``: end with an error when the run did not complete.
"""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def notebook_path() -> Path:
    """The report notebook shipped in this package.

    Returns:
        Its path (inside the installed package, or the source tree).
    """
    return Path(str(resources.files("taskexec_nb.jupyter").joinpath(NOTEBOOK_NAME)))


def parameter_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """Check notebook parameters and give each the type of its default.

    Text values (from ``-p NAME VALUE`` on the command line) become numbers or
    booleans where the default is one; other values must already have that type.

    Args:
        given: Parameter names and values.

    Returns:
        The converted values (only those given; papermill keeps the others' defaults).

    Raises:
        UsageError: For a name the notebook has no parameter for, or a value of the
            wrong kind, naming the parameter.
    """
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name not in PARAMETERS:
            known = ", ".join(PARAMETERS)
            raise UsageError(f"notebook parameter {name!r}: no such parameter (known: {known})")
        values[name] = _typed(name, value, PARAMETERS[name])
    return values


def _typed(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise UsageError(f"notebook parameter {name!r}: {value!r} is not true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise UsageError(f"notebook parameter {name!r}: {value!r} is not a whole number >= 0")
    if not isinstance(value, str):
        raise UsageError(f"notebook parameter {name!r}: {value!r} is not text")
    return value


def tasks_path(tasks: str, demo: str | Path = "../examples/tasks.md") -> Path:
    """The tasks.md the report notebook runs.

    Args:
        tasks: The ``tasks`` parameter: a path, or ``""`` for the demo.
        demo: The example tasks.md, relative to the kernel's folder.

    Returns:
        ``tasks`` as an absolute path; for ``""``, the tasks.md of a scratch copy of
        the demo's folder (so the example keeps its unticked boxes and no state).

    Raises:
        UsageError: If the file does not exist (naming it), or ``tasks`` is empty and
            there is no demo.
    """
    if tasks:
        path = Path(tasks).expanduser()
        if not path.is_file():
            raise UsageError(f"tasks {tasks}: no such file")
        return path.resolve()
    example = Path(demo)
    if not example.is_file():
        raise UsageError(
            f"no tasks given and no {example} here: give the tasks.md (taskexec notebook "
            "TASKS_MD, or the parameter tasks)"
        )
    scratch = Path(tempfile.mkdtemp(prefix="taskexec-report-")) / example.parent.name
    shutil.copytree(example.parent, scratch)
    return scratch / example.name


def run_arguments(
    *, workers: int = 0, only: str = "", from_task: str = "", until: str = "", profile: str = ""
) -> dict[str, Any]:
    """The keyword arguments of :meth:`~taskexec_nb.plan.ExecutionPlan.run` for the parameters.

    Args:
        workers: ``max_workers`` (0: the configured number).
        only: Tasks, stories or phases, comma-separated (``""``: all).
        from_task: Start here (``""``: at the start).
        until: Stop after this (``""``: at the end).
        profile: The config profile (``""``: the plan's).

    Returns:
        The arguments; the empty ones are left out, so the configuration decides.
    """
    arguments: dict[str, Any] = {}
    if workers:
        arguments["max_workers"] = workers
    if only:
        arguments["only"] = [s.strip() for s in only.split(",") if s.strip()]
    if from_task:
        arguments["from_task"] = from_task
    if until:
        arguments["until"] = until
    if profile:
        arguments["profile"] = profile
    return arguments


def nothing_to_run(tasks_md: Path) -> str:
    """Every task of ``tasks_md`` is done: say so, and report its latest run instead.

    Args:
        tasks_md: The tasks.md, every task of which is done (ticked) or cancelled.

    Returns:
        ``"latest"``: the run to report.

    Raises:
        ReportError: If no run of it is recorded (its boxes were ticked by hand):
            there is nothing to run and no run to report.
    """
    from taskexec_nb.errors import ReportError
    from taskexec_nb.report.runs import runs

    try:
        recorded = runs(tasks_md)
    except ReportError:  # no state store at all
        recorded = []
    if not recorded:
        raise ReportError(
            f"nothing to run in {tasks_md}: every task is done (ticked), and no run of it is "
            "recorded to report; untick a task to run it"
        )
    print("nothing to run: every task is done; the latest run is reported")
    return "latest"


def check_completed(report: ExecutionReport) -> None:
    """Fail when the reported run did not complete (the notebook's last cell).

    A failure that ``allow_failure`` lets pass does not count.

    Args:
        report: The run's report.

    Raises:
        RunFailedError: If the run's status is not ``completed``, naming the tasks
            that did not complete.
    """
    summary = report.summary
    status = str(summary["status"])
    if status == "completed":
        return
    tasks = report.tasks
    ids = tasks.index if "id" not in tasks.columns else tasks["id"]
    missing = [str(t) for t, s in zip(ids, tasks["status"], strict=True) if s != "completed"]
    shown = ", ".join(missing[:10]) + (
        f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    )
    raise RunFailedError(
        f"run {report.run_id} ended {status}: {len(missing)} task(s) did not complete"
        + (f" ({shown})" if shown else ""),
        run_id=report.run_id,
        status=status,
        tasks=missing,
    )


def run_notebook(
    tasks: str | Path | None,
    output: str | Path,
    parameters: Mapping[str, Any] | None = None,
    notebook: str | Path | None = None,
    *,
    kernel: str | None = None,
    cwd: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Run the report notebook (or another) through papermill.

    Args:
        tasks: The tasks.md to run (the ``tasks`` parameter); None leaves the
            notebook's own value (the report notebook's demo).
        output: Where to write the executed notebook (``.ipynb``).
        parameters: Other parameters (see :data:`PARAMETERS`); text values are
            converted to the type of the parameter's default.
        notebook: The notebook to run (default: the report notebook of this
            package); another notebook's parameters are not checked.
        kernel: The Jupyter kernel (default: the notebook's, ``python3``).
        cwd: The kernel's working folder (default: the current one).
        progress: Show papermill's progress bar.

    Returns:
        The executed notebook's path.

    Raises:
        UsageError: For a missing tasks.md or notebook, an output that is not a
            ``.ipynb`` or whose folder does not exist, a bad parameter, or a kernel
            not installed.
        NotebookError: If a cell raised (the run did not complete, the tasks.md did
            not validate...): the executed notebook is written all the same, and the
            error says where.
    """
    source = Path(notebook) if notebook is not None else notebook_path()
    if not source.is_file():
        raise UsageError(f"notebook {source}: no such file")
    target = Path(output)
    if target.suffix != ".ipynb":
        raise UsageError(f"-o {output}: the executed notebook is written as a .ipynb file")
    if not target.parent.is_dir():
        raise UsageError(f"-o {output}: no such folder {target.parent}")
    given = dict(parameters or {})
    values = parameter_values(given) if notebook is None else given
    if tasks is not None:
        if not Path(tasks).is_file():
            raise UsageError(f"{tasks}: no such file")
        values["tasks"] = str(Path(tasks).resolve())
    if values.get("html_report"):
        values["html_report"] = str(Path(values["html_report"]).resolve())
    _check_kernel(source, kernel)
    _execute(source, target, values, kernel=kernel, cwd=cwd, progress=progress)
    return target


def _check_kernel(source: Path, kernel: str | None) -> None:
    """Refuse a kernel that is not installed, before papermill writes anything."""
    import json

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if kernel is None:
        try:
            metadata = json.loads(source.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError) as exc:
            raise UsageError(f"notebook {source}: not a notebook ({exc})") from None
        kernel = str(metadata.get("kernelspec", {}).get("name") or "python3")
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise UsageError(
            f"{source.name}: no Jupyter kernel named {kernel!r} here "
            "(pip install ipykernel, or give another kernel)"
        ) from None


def _first_lines(text: str) -> str:
    """An error's message on one line: its first line, and the first item it lists."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].endswith(":") and len(lines) > 1:
        more = f" (and {len(lines) - 2} more line(s))" if len(lines) > 2 else ""
        return f"{lines[0]} {lines[1]}{more}"
    return lines[0]


def _recorded(kernels: list[Any]) -> type[Any]:
    """A kernel manager class (over IPC) that adds each manager it makes to ``kernels``."""
    from taskexec_nb.executors.kernels import ipc_kernel_manager

    class RecordedKernelManager(ipc_kernel_manager()):  # type: ignore[misc]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            kernels.append(self)

    return RecordedKernelManager


@contextlib.contextmanager
def _interrupting(kernels: list[Any]) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP interrupt the kernel's cell, as Ctrl-C does a terminal.

    The cell running the tasks gets ``KeyboardInterrupt``: ``plan.run()`` stops the run
    (saved, resumable) and the notebook stops there, written with the error. A second
    signal raises ``KeyboardInterrupt`` here at once. Outside the main thread, where
    signals cannot be caught, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        signals.append(signal.SIGHUP)
    # One the command started with ignored (nohup: SIGHUP) stays ignored.
    signals = [sig for sig in signals if signal.getsignal(sig) != signal.SIG_IGN]
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        """Interrupt the kernels' cells on the first signal; stop the command on the second.

        Args:
            signum: The signal received (SIGINT, SIGTERM or SIGHUP).
            frame: The interrupted frame (unused).

        Raises:
            KeyboardInterrupt: On a second signal, or when no kernel is running yet.
        """
        received.append(signum)
        if len(received) > 1 or not kernels:
            raise KeyboardInterrupt
        for manager in kernels:
            with contextlib.suppress(Exception):
                os.killpg(manager.provisioner.pgid, signal.SIGINT)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _execute(
    source: Path,
    target: Path,
    values: dict[str, Any],
    *,
    kernel: str | None,
    cwd: str | Path | None,
    progress: bool,
) -> None:
    """Run papermill; its execution error becomes a :class:`NotebookError`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    kernels: list[Any] = []
    try:
        with _interrupting(kernels):
            papermill.execute_notebook(
                str(source),
                str(target),
                parameters=values,
                kernel_name=kernel,
                cwd=str(cwd) if cwd is not None else None,
                progress_bar=progress,
                kernel_manager_class=_recorded(kernels),
            )
    except PapermillExecutionError as exc:
        where = f"cell [{exc.exec_count}]" if exc.exec_count else f"cell {exc.cell_index}"
        message = _first_lines(str(exc.evalue))
        error = f"{exc.ename}: {message}" if message else str(exc.ename)
        raise NotebookError(
            f"{source.name} stopped at {where}: {error}; "
            f"the executed notebook, with the error, is {target}",
            output=str(target),
            cell=exc.cell_index,
            ename=str(exc.ename),
            evalue=str(exc.evalue),
        ) from None
    except (DeadKernelError, CellTimeoutError) as exc:
        # The kernel died (a cell ended its process, memory ran out) or a cell never
        # finished: papermill has written the notebook up to there all the same.
        ename = type(exc).__name__
        raise NotebookError(
            f"{source.name} stopped: {ename}: {_first_lines(str(exc))}; "
            f"the executed notebook, up to there, is {target}",
            output=str(target),
            cell=None,
            ename=ename,
            evalue=str(exc),
        ) from None
