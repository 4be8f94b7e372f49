"""Batch runs: the report notebook through papermill (``run_notebook``, ``taskexec notebook``),
and what Binder needs to open the quickstart.

The notebook runs in a real kernel (each run takes a few seconds, so the tests share runs
where they can); the command runs as a real process.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import gone, wait_pid, wait_until

import taskexec_nb
from taskexec_nb.cli.notebook import exit_code
from taskexec_nb.errors import NotebookError, RunFailedError, UsageError
from taskexec_nb.exitcodes import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_TASKS_FAILED,
    EXIT_USAGE,
)
from taskexec_nb.jupyter import batch

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples"

FAILING = (
    "## Phase 1: Setup\n\n"
    '- [ ] T001 Works\n  - taskexec: run="true"\n'
    '- [ ] T002 Breaks\n  - taskexec: run="echo broken on purpose >&2; exit 3"\n'
)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", "notebook", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cells(path: Path) -> list[dict[str, Any]]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _outputs(cell: dict[str, Any]) -> list[dict[str, Any]]:
    return list(cell.get("outputs", []))


def _text(cell: dict[str, Any]) -> str:
    parts = []
    for out in _outputs(cell):
        parts.append("".join(out.get("text", "")))
        for value in out.get("data", {}).values():
            parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(p for p in parts if isinstance(p, str))


def _errors(path: Path) -> list[tuple[int, str, str]]:
    return [
        (i, o["ename"], o["evalue"])
        for i, cell in enumerate(_cells(path))
        for o in _outputs(cell)
        if o["output_type"] == "error"
    ]


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    # The kernel's own start-up warning (ipykernel on TCP) is not the command's output.
    return [line for line in proc.stderr.splitlines() if not line.startswith("[IPKernelApp]")]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder)
    return folder / "tasks.md"


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    path = tmp_path / "failing" / "tasks.md"
    path.parent.mkdir()
    path.write_text(FAILING)
    return path


# -- the command, end to end ---------------------------------------------------------------------


def test_notebook_command_runs_the_tasks_and_renders_the_whole_report(
    example: Path, tmp_path: Path
) -> None:
    out = tmp_path / "executed.ipynb"
    page = tmp_path / "report.html"
    proc = _cli(
        str(example), "-o", str(out), "-p", "workers", "1", "-p", "html_report", str(page),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote the executed notebook to {out}" in proc.stdout
    assert "Traceback" not in proc.stderr
    cells = _cells(out)
    # papermill wrote the values given after the parameters cell, with their types
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    assert "workers = 1\n" in _source(injected)
    assert f'tasks = "{example}"' in _source(injected)
    assert _errors(out) == []
    # the run happened, in place, with the settings given
    run = taskexec_nb.runs(example)[0]
    assert run["status"] == "completed"
    assert run["settings"]["max_workers"] == 1
    assert "[X] T001" in example.read_text()
    # every part of the report is there: summary, tables, the three figures, the HTML page
    everything = "\n".join(_text(c) for c in cells)
    assert '<section aria-label="Summary">' in everything
    assert run["run_id"] in everything
    assert "no problems: every task completed" in everything
    plotly = "application/vnd.plotly.v1+json"
    figures = [o for c in cells for o in _outputs(c) if plotly in o.get("data", {})]
    assert len(figures) == 3
    assert page.read_text().startswith("<!DOCTYPE html>")
    # again: every box is ticked now, so no empty run is made; the latest run is reported
    again = tmp_path / "again.ipynb"
    assert _cli(str(example), "-o", str(again), cwd=tmp_path).returncode == 0
    assert [r["run_id"] for r in taskexec_nb.runs(example)] == [run["run_id"]]
    text = "\n".join(_text(c) for c in _cells(again))
    assert "nothing to run: every task is done; the latest run is reported" in text
    assert f"run {run['run_id']} of tasks.md: completed" in text


def test_a_failing_run_still_writes_the_notebook_showing_where_it_failed(
    failing: Path, tmp_path: Path
) -> None:
    out = tmp_path / "failed.ipynb"
    proc = _cli(str(failing), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == EXIT_TASKS_FAILED
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(
        r"taskexec: error: report\.ipynb stopped at cell \[\d+\]: RunFailedError: run \S+ "
        r"ended failed: 1 task\(s\) did not complete \(T002\); the executed notebook, "
        rf"with the error, is {re.escape(str(out))}",
        lines[0],
    ), lines[0]
    # the report was rendered before the last cell failed: the problem is in it
    errors = _errors(out)
    assert [e[1] for e in errors] == ["RunFailedError"]
    cells = _cells(out)
    assert errors[0][0] == len(cells) - 1
    everything = "\n".join(_text(c) for c in cells)
    assert "broken on purpose" in everything
    assert "Execution using papermill encountered an exception here" in out.read_text()


def test_a_tasks_file_that_does_not_validate_exits_2_naming_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("## Phase 1: Setup\n- [ ] T001 First (depends on T009)\n")
    out = tmp_path / "bad.ipynb"
    proc = _cli(str(bad), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    (line,) = _stderr_lines(proc)
    assert "ValidationError" in line
    assert f"{bad}:2: error TX102: T001 depends on unknown task T009" in line
    assert str(out) in line
    assert [e[1] for e in _errors(out)] == ["ValidationError"]


def test_a_file_done_by_hand_and_never_run_says_there_is_no_run_to_report(
    tmp_path: Path,
) -> None:
    # Every box ticked by hand, no run recorded: nothing to run and no run to report.
    done = tmp_path / "tasks.md"
    done.write_text("## Phase 1: Setup\n- [x] T001 First\n- [X] T002 Second\n")
    out = tmp_path / "done.ipynb"
    proc = _cli(str(done), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    (line,) = _stderr_lines(proc)
    assert (
        f"ReportError: nothing to run in {done}: every task is done (ticked), and no run "
        "of it is recorded to report" in line
    ), line
    assert "untick a task to run it" in line and str(out) in line


def test_sigterm_interrupts_the_run_in_the_kernel_and_writes_the_notebook(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.md"
    tasks.write_text(
        "## Phase 1: Setup\n\n"
        '- [ ] T001 Slow\n  - taskexec: run="echo $$ > pid.txt; exec sleep 60"\n'
        '- [ ] T002 After\n  - taskexec: run="true"\n'
    )
    out = tmp_path / "stopped.ipynb"
    command = [sys.executable, "-m", "taskexec_nb.cli", "notebook", str(tasks), "-o", str(out)]
    with subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert wait_until(lambda: (tmp_path / "pid.txt").exists(), timeout=120)
            task = wait_pid(tmp_path / "pid.txt")
            proc.send_signal(signal.SIGTERM)  # a CI job's timeout
            assert proc.wait(60) == EXIT_INTERRUPTED
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
    (line,) = [x for x in stderr.splitlines() if x.startswith("taskexec:")]
    assert "KeyboardInterrupt: run " in line and "interrupted" in line, line
    assert line.endswith(f"the executed notebook, with the error, is {out}")
    assert wait_until(lambda: gone(task), timeout=10), "the task outlived the run"
    assert [e[1] for e in _errors(out)] == ["KeyboardInterrupt"]
    run = taskexec_nb.runs(tasks)[0]
    assert run["status"] == "interrupted"


def test_a_notebook_run_under_nohup_keeps_going_when_the_terminal_closes(tmp_path: Path) -> None:
    # nohup starts the command with SIGHUP ignored: closing the terminal must not stop it.
    tasks = tmp_path / "tasks.md"
    tasks.write_text(
        "## Phase 1: Setup\n\n"
        '- [ ] T001 Slow\n  - taskexec: run="touch started; sleep 2"\n'
        '- [ ] T002 After\n  - taskexec: run="echo ok > done.txt"\n'
    )
    out = tmp_path / "kept.ipynb"
    command = ["nohup", sys.executable, "-m", "taskexec_nb.cli", "notebook", str(tasks)]
    with subprocess.Popen(
        [*command, "-o", str(out)], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert wait_until(lambda: (tmp_path / "started").exists(), timeout=120)
            proc.send_signal(signal.SIGHUP)  # the terminal closes
            assert proc.wait(120) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
    assert (tmp_path / "done.txt").read_text() == "ok\n"
    assert taskexec_nb.runs(tasks)[0]["status"] == "completed"


def test_a_signal_before_the_kernel_starts_stops_at_once_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), batch._interrupting([]):
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)  # no kernel to interrupt yet
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before
    # in another thread signals cannot be caught: nothing is installed
    seen: list[object] = []

    def enter() -> None:
        with batch._interrupting([]):
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    assert seen == [before]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "worker", "2"], "notebook parameter 'worker': no such parameter (known: tasks,"),
        (["-p", "workers", "two"], "notebook parameter 'workers': 'two' is not a whole number"),
        (["-p", "require_success", "maybe"], "'maybe' is not true or false"),
        (["-p", "tasks", "x.md"], "-p tasks: give the tasks.md as the command's argument"),
    ],
)
def test_bad_parameters_get_one_line_naming_them(
    example: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _cli(str(example), "-o", str(tmp_path / "x.ipynb"), *args, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.startswith("taskexec: error: ")
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.ipynb").exists()


def test_exit_codes_follow_the_error_the_kernel_raised() -> None:
    def error(ename: str, evalue: str = "") -> NotebookError:
        return NotebookError("x", output="o.ipynb", cell=3, ename=ename, evalue=evalue)

    assert exit_code(error("ValidationError")) == EXIT_USAGE
    assert exit_code(error("ConfigError")) == EXIT_USAGE
    assert exit_code(error("RunFailedError", "run R ended failed: 1 task(s)")) == EXIT_TASKS_FAILED
    assert exit_code(error("RunFailedError", "run R ended incomplete: 2 task(s)")) == (
        EXIT_INCOMPLETE
    )
    assert exit_code(error("KeyboardInterrupt", "run R interrupted")) == EXIT_INTERRUPTED
    assert exit_code(error("ZeroDivisionError")) == EXIT_TASKS_FAILED


# -- run_notebook, from Python -------------------------------------------------------------------


def test_run_notebook_reports_a_past_run_without_running_again(
    failing: Path, tmp_path: Path
) -> None:
    handle = taskexec_nb.load(failing).run()
    assert handle.result is not None and handle.result.value == "failed"
    out = tmp_path / "past.ipynb"
    written = batch.run_notebook(
        failing, out, {"run_id": handle.run_id, "require_success": "false"}, cwd=tmp_path
    )
    assert written == out
    assert _errors(out) == []
    assert [r["run_id"] for r in taskexec_nb.runs(failing)] == [handle.run_id]
    everything = "\n".join(_text(c) for c in _cells(out))
    assert handle.run_id in everything
    assert "broken on purpose" in everything


def test_run_notebook_runs_another_notebook_with_its_own_parameters(tmp_path: Path) -> None:
    notebook = tmp_path / "mine.ipynb"
    cells = [
        {"cell_type": "code", "source": "size = 1", "metadata": {"tags": ["parameters"]}},
        {"cell_type": "code", "source": "print('size', size)", "metadata": {}},
        {"cell_type": "code", "source": "if size > 2:\n    raise ValueError()", "metadata": {}},
    ]
    for i, cell in enumerate(cells):
        cell.update(id=f"cell-{i}", outputs=[], execution_count=None)
    notebook.write_text(
        json.dumps(
            {
                "cells": cells,
                "metadata": {
                    "kernelspec": {
                        "name": "python3",
                        "display_name": "Python 3",
                        "language": "python",
                    }
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    out = tmp_path / "out.ipynb"
    # not the report notebook's parameters: passed as they are, no tasks.md given
    with pytest.raises(NotebookError) as info:
        batch.run_notebook(None, out, {"size": 3}, notebook=notebook, cwd=tmp_path)
    assert str(info.value) == (
        f"mine.ipynb stopped at cell [4]: ValueError; the executed notebook, with the error, "
        f"is {out}"
    )
    assert (info.value.ename, info.value.evalue, info.value.output) == ("ValueError", "", str(out))
    assert "size 3" in _text(_cells(out)[2])  # after the parameters and the injected values


def test_a_kernel_that_dies_still_leaves_the_notebook_and_one_error(tmp_path: Path) -> None:
    notebook = tmp_path / "dies.ipynb"
    cells = [
        {"cell_type": "code", "source": "print('before')"},
        {"cell_type": "code", "source": "import os\nos._exit(1)"},
    ]
    for i, cell in enumerate(cells):
        cell.update(id=f"cell-{i}", metadata={}, outputs=[], execution_count=None)
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.write_text(
        json.dumps(
            {"cells": cells, "metadata": {"kernelspec": kernelspec}, "nbformat": 4,
             "nbformat_minor": 5}
        )
    )  # fmt: skip
    out = tmp_path / "out.ipynb"
    with pytest.raises(NotebookError) as info:
        batch.run_notebook(None, out, notebook=notebook, cwd=tmp_path)
    assert info.value.ename == "DeadKernelError"
    assert info.value.cell is None
    assert str(info.value).startswith("dies.ipynb stopped: DeadKernelError: ")
    assert str(info.value).endswith(f"; the executed notebook, up to there, is {out}")
    assert "before" in _text(_cells(out)[0])


def test_run_notebook_refuses_bad_input_before_starting_a_kernel(
    example: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"-o out\.html: the executed notebook is written as"):
        batch.run_notebook(example, "out.html")
    with pytest.raises(UsageError, match=r"no such folder"):
        batch.run_notebook(example, tmp_path / "nowhere" / "out.ipynb")
    with pytest.raises(UsageError, match=r"missing\.md: no such file"):
        batch.run_notebook(tmp_path / "missing.md", tmp_path / "out.ipynb")
    with pytest.raises(UsageError, match=r"notebook .*other\.ipynb: no such file"):
        batch.run_notebook(example, tmp_path / "out.ipynb", notebook=tmp_path / "other.ipynb")
    with pytest.raises(UsageError, match=r"no Jupyter kernel named 'no-such-kernel'"):
        batch.run_notebook(example, tmp_path / "out.ipynb", kernel="no-such-kernel")
    other = tmp_path / "other.ipynb"
    other.write_text('{"cells": [], "metadata": {"kernelspec": {"name": "julia-1.9"}}}')
    with pytest.raises(UsageError, match=r"other\.ipynb: no Jupyter kernel named 'julia-1\.9'"):
        batch.run_notebook(example, tmp_path / "out.ipynb", notebook=other)
    other.write_text("not json")
    with pytest.raises(UsageError, match=r"other\.ipynb: not a notebook"):
        batch.run_notebook(example, tmp_path / "out.ipynb", notebook=other)
    assert not (tmp_path / "out.ipynb").exists()


def test_parameters_take_the_type_of_their_default() -> None:
    values = batch.parameter_values(
        {"workers": "4", "require_success": "no", "only": "US1", "mode": "stories"}
    )
    assert values == {"workers": 4, "require_success": False, "only": "US1", "mode": "stories"}
    assert batch.parameter_values({"workers": 2, "require_success": True}) == {
        "workers": 2,
        "require_success": True,
    }
    with pytest.raises(UsageError, match="'workers': -1 is not a whole number"):
        batch.parameter_values({"workers": -1})
    with pytest.raises(UsageError, match="'only': 3 is not text"):
        batch.parameter_values({"only": 3})


def test_run_arguments_leave_out_what_the_configuration_decides() -> None:
    assert batch.run_arguments() == {}
    given = {"workers": 3, "only": "US1, phase:2", "from_task": "T002", "until": "T009"}
    assert batch.run_arguments(**given, profile="ci") == {  # type: ignore[arg-type]
        "max_workers": 3,
        "only": ["US1", "phase:2"],
        "from_task": "T002",
        "until": "T009",
        "profile": "ci",
    }


def test_tasks_path_copies_the_demo_and_names_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"no tasks given and no \.\./examples/tasks\.md here"):
        batch.tasks_path("")
    with pytest.raises(UsageError, match=r"tasks nope\.md: no such file"):
        batch.tasks_path("nope.md")
    copy = batch.tasks_path("", demo=EXAMPLE / "tasks.md")
    assert copy.read_text() == (EXAMPLE / "tasks.md").read_text()
    assert copy.parent != EXAMPLE
    (tmp_path / "mine.md").write_text("x")
    assert batch.tasks_path("mine.md") == tmp_path / "mine.md"


def test_check_completed_names_the_tasks_that_did_not(failing: Path, example: Path) -> None:
    batch.check_completed(taskexec_nb.load(example).run().report())
    report = taskexec_nb.load(failing).run().report()
    with pytest.raises(RunFailedError) as info:
        batch.check_completed(report)
    assert info.value.status == "failed"
    assert info.value.tasks == ("T002",)
    assert info.value.run_id == report.run_id
    assert str(info.value) == f"run {report.run_id} ended failed: 1 task(s) did not complete (T002)"


# -- the notebook itself ------------------------------------------------------------------------


def test_the_report_notebook_ships_in_the_package_and_is_the_one_in_notebooks() -> None:
    shipped = batch.notebook_path()
    assert shipped.is_file()
    assert shipped.parent == Path(batch.__file__).parent
    assert (ROOT / "notebooks" / "report.ipynb").resolve() == shipped.resolve()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"jupyter/report.ipynb"' in pyproject


def test_the_parameters_cell_declares_every_parameter_with_its_default() -> None:
    cells = _cells(batch.notebook_path())
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    declared = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(_source(tagged[0])).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert declared == batch.PARAMETERS


def test_nbval_checks_the_stored_outputs_of_the_report_notebook(tmp_path: Path) -> None:
    # A copy of notebooks/ (with the sanitising rules and conftest) where one stored output
    # of the report notebook says something the notebook does not print: nbval fails there.
    # The copy's outputs are made first by this Python (its pandas may print a table
    # otherwise than the one the stored outputs come from), as `make notebooks` does.
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("conftest.py", "nbval_sanitize.cfg"):
        shutil.copy(ROOT / "notebooks" / name, folder / name)
    shutil.copytree(EXAMPLE, tmp_path / "examples")
    executed = nbformat.read(batch.notebook_path(), as_version=4)
    NotebookClient(
        executed, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    notebook = json.loads(nbformat.writes(executed))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    index, problems = next((i, c) for i, c in enumerate(code) if "report.errors" in _source(c))
    assert problems["outputs"][0]["text"] == ["no problems: every task completed\n"]
    problems["outputs"][0]["text"] = ["no problems: every task was skipped\n"]
    (folder / "report.ipynb").write_text(json.dumps(notebook))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval",
         "--nbval-sanitize-with", str(folder / "nbval_sanitize.cfg"), str(folder)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout
    failed = re.findall(r"^FAILED \S+::(Cell \d+)", proc.stdout, re.MULTILINE)
    assert failed == [f"Cell {index}"], proc.stdout
    assert "every task was skipped" in proc.stdout


# -- Binder --------------------------------------------------------------------------------------


def test_binder_installs_the_notebook_face_and_opens_the_quickstart() -> None:
    requirements = [
        line.split("#")[0].strip()
        for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    ]
    names = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in requirements if r}
    assert {"jupyterlab", "anywidget", "ipywidgets", "plotly"} <= names
    assert "." in requirements  # the package itself, from the repository
    readme = (ROOT / "README.md").read_text()
    badge = re.search(
        r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\((https://mybinder\.org/v2/\S+)\)",
        readme,
    )
    assert badge is not None
    opened = re.search(r"urlpath=lab/tree/(\S+?\.ipynb)", badge.group(1))
    assert opened is not None
    assert (ROOT / opened.group(1)).is_file()
    assert opened.group(1) == "notebooks/quickstart.ipynb"
