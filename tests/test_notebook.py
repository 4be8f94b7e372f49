"""Notebook tasks: cell output in the log, a failure named by its cell, kernel metadata read."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
import pytest
from helpers import notebook_project, opened_store, rows_by_id, write_md, write_notebook

import taskexec_nb
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.base import Outcome
from taskexec_nb.executors.notebook import _notebook_error, notebook_kernelspec


def test_cell_output_is_logged_and_a_failure_names_its_cell(tmp_path: Path) -> None:
    plan = taskexec_nb.load(notebook_project(tmp_path))
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=3)
    assert handle.result.value == "failed"
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
    assert rows["T001"]["status"] == "completed"
    assert "ok cell output 1" in Path(rows["T001"]["log_path"]).read_text()
    assert "ok cell output 1" in rows["T001"]["tail"]
    # The failing cell is named, with its error, not "exit code 1".
    assert rows["T002"]["status"] == "failed"
    assert rows["T002"]["error"] == 'ValueError: cell boom (at "In [3]" of fail.ipynb)'
    assert "hello from cell" in Path(rows["T002"]["log_path"]).read_text()
    # Papermill's own failure (a file it cannot read) is named from its traceback.
    assert rows["T003"]["status"] == "failed"
    assert rows["T003"]["error"].startswith("papermill failed: NotJSONError: ")


def test_parallel_notebook_kernels_talk_over_ipc_not_tcp_ports(tmp_path: Path) -> None:
    transport = (
        "import json\nfrom ipykernel.connect import get_connection_info\n"
        "info = json.loads(get_connection_info())\n"
        "print('transport', info['transport'], 'ip', info['ip'])"
    )
    lines = ["# Tasks", "", "## Phase 1: Notebooks", ""]
    for n in range(1, 4):  # started together: over TCP their kernels can pick the same ports
        write_notebook(tmp_path / f"nb{n}.ipynb", transport)
        lines += [f"- [ ] T00{n} [P] Notebook {n}", f"  - taskexec: notebook=nb{n}.ipynb"]
    write_md(tmp_path, "\n".join(lines) + "\n")
    plan = taskexec_nb.load(tmp_path / "tasks.md")
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=3)
    assert handle.result.value == "completed"
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
    prefixes = set()
    for task_id, row in rows.items():
        log = Path(row["log_path"]).read_text()
        assert "transport ipc ip " in log, (task_id, log)
        assert "without encryption" not in log  # ipykernel's warning for TCP kernels
        prefixes.add(log.split("transport ipc ip ")[1].split()[0])
    assert len(prefixes) == 3  # a socket path of its own for each kernel
    for prefix in prefixes:  # removed when the kernel shut down
        assert not list(Path(prefix).parent.glob(Path(prefix).name + "-*"))


def test_papermill_errors_are_read_from_the_last_traceback_line(tmp_path: Path) -> None:
    def failed(stderr: str) -> Outcome:
        return Outcome(TaskStatus.FAILED, exit_code=1, error="exit code 1", stderr_tail=stderr)

    missing = tmp_path / "none.ipynb"
    tail = (
        "Traceback (most recent call last):\n  ...\n"
        "jupyter_client.kernelspec.NoSuchKernel: No such kernel named xyz"
    )
    error = _notebook_error(missing, "a.ipynb", failed(tail))
    assert error is not None
    assert error.startswith("papermill failed: NoSuchKernel: No such kernel named xyz (kernels")
    assert "python3" in error
    assert _notebook_error(missing, "a.ipynb", failed("Killed")) is None


BARE_TASKS = """\
# Tasks

## Phase 1: Notebooks

- [ ] T001 [P] Notebook naming a kernel but no language
  - taskexec: notebook=named.ipynb param.x=2
- [ ] T002 [P] Notebook with no kernel metadata at all
  - taskexec: notebook=bare.ipynb param.x=3
"""


def test_notebooks_without_language_or_kernel_metadata_run_in_the_default_kernel(
    tmp_path: Path,
) -> None:
    # Papermill alone refuses both: "No language found in notebook" and "No kernel name
    # found in notebook". Jupyter itself opens them in the python3 kernel.
    write_notebook(tmp_path / "named.ipynb", "print('named ran', x)")
    named = nbformat.read(tmp_path / "named.ipynb", as_version=4)
    del named.metadata["kernelspec"]["language"]
    nbformat.write(named, tmp_path / "named.ipynb")
    write_notebook(tmp_path / "bare.ipynb", "print('bare ran', x)")
    bare = nbformat.read(tmp_path / "bare.ipynb", as_version=4)
    bare.metadata = nbformat.NotebookNode()
    nbformat.write(bare, tmp_path / "bare.ipynb")
    plan = taskexec_nb.load(write_md(tmp_path, BARE_TASKS))
    # One at a time: two kernels starting at once can race for a port (a Jupyter
    # limitation, seen as "Kernel died before replying to kernel_info").
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=1)
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
    assert handle.result.value == "completed", {k: r["error"] for k, r in rows.items()}
    assert "named ran 2" in rows["T001"]["tail"]
    assert "bare ran 3" in rows["T002"]["tail"]


def test_notebook_kernelspec_reads_name_and_language_where_given(tmp_path: Path) -> None:
    write_notebook(tmp_path / "full.ipynb")
    bare = nbformat.v4.new_notebook()
    nbformat.write(bare, tmp_path / "bare.ipynb")
    info = nbformat.v4.new_notebook(metadata={"language_info": {"name": "R"}})
    nbformat.write(info, tmp_path / "info.ipynb")
    (tmp_path / "text.ipynb").write_text("not json")
    assert notebook_kernelspec(tmp_path / "full.ipynb") == ("python3", "python")
    assert notebook_kernelspec(tmp_path / "bare.ipynb") == (None, None)
    assert notebook_kernelspec(tmp_path / "info.ipynb") == (None, "R")
    assert notebook_kernelspec(tmp_path / "text.ipynb") is None
    assert notebook_kernelspec(tmp_path / "missing.ipynb") is None


def test_kernel_sockets_fall_back_to_the_temporary_folder_when_the_path_is_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.executors.kernels import ipc_kernel_manager, socket_prefix

    short = tmp_path / "rt"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(short))
    first, second = socket_prefix(), socket_prefix()
    assert Path(first).parent == short and first != second  # one name per kernel
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / ("x" * 120)))
    assert Path(socket_prefix()).parent == Path(tempfile.gettempdir())  # a socket path <= 107
    manager = ipc_kernel_manager()
    assert manager().transport == "ipc"
    assert manager(transport="tcp").transport == "tcp"  # what the caller asks for wins
