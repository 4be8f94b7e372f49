"""The ``taskexec`` command line, in-process and as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import taskexec_nb
from taskexec_nb import cli
from taskexec_nb.cli import validate as cli_validate
from taskexec_nb.errors import UsageError

FENCE = "```"


def md(text: str) -> str:
    return textwrap.dedent(text).replace("~~~", FENCE)


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.split("\n")) if needle in line)


# Every task has an action, so this file has no diagnostics at all.
CLEAN = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [x] T001 Create the project
      - taskexec: run="true"
    - [ ] T002 [P] Add the linter config in .ruff.toml
      - taskexec: run="true"
    - [ ] T003 [P] Add the CI config in ci.yml
      - taskexec: run="true"

    ## Phase 2: User Story 1 - Sign in (Priority: P1)

    - [ ] T004 [US1] Create the user model in src/models/user.py
      ~~~bash
      echo model
      ~~~
    - [ ] ~~T005 [US1] Old approach~~
      - taskexec: run="true"
    - [ ] T006 [US1] Add the login view in src/views/login.py (depends on T004)
      - taskexec: run="true"

    ## Phase 3: User Story 2 - Sign up (Priority: P2)

    - [ ] T007 [US2] Add the signup form in src/views/signup.py
      - taskexec: run="true"

    ## Phase 4: Polish

    - [ ] T008 Write the docs
      - taskexec: run="true"
    """
)

# Valid, but with warnings (no action, a yaml fence).
WARNINGS = md(
    """\
    - [ ] T001 Think about it
    - [ ] T002 Configure
      ~~~yaml
      a: 1
      ~~~
    """
)

# Errors: an unknown dependency and a bad annotation (and a warning).
BROKEN = md(
    """\
    # Tasks

    - [ ] T001 Start
      - taskexec: timout=5m
    - [ ] T002 Next (depends on T011)
    - [ ] T010 Other
    """
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("clean", CLEAN), ("warnings", WARNINGS), ("broken", BROKEN)):
        path = tmp_path / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


DIAG_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+): (?P<sev>error|warning) (?P<code>TX\d{3}): .+$"
)


# --- validate ----------------------------------------------------------------------------------


def test_validate_clean_file(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, err = run(capsys, "validate", str(files["clean"]))
    assert code == 0
    assert err == ""
    assert "0 error(s), 0 warning(s)" in out
    assert f"{files['clean']}: 8 task(s), valid" in out


def test_validate_errors_compiler_style(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = files["broken"]
    code, out, _err = run(capsys, "validate", str(path))
    assert code == 2
    lines = out.splitlines()
    diags = [m.groupdict() for m in map(DIAG_LINE.match, lines) if m]
    got = {(d["code"], d["sev"], int(d["line"])) for d in diags}
    assert ("TX107", "error", line_of(BROKEN, "timout")) in got
    assert ("TX102", "error", line_of(BROKEN, "T011")) in got
    assert ("TX105", "warning", line_of(BROKEN, "T001")) in got
    assert all(d["file"] == str(path) for d in diags)
    # Each diagnostic with a hint has an indented hint line after it.
    tx102 = next(i for i, ln in enumerate(lines) if " TX102: " in ln)
    assert lines[tx102 + 1] == "    hint: did you mean T010?"
    assert "2 error(s), 1 warning(s)" in out
    assert "valid" not in lines[-1]


def test_validate_warnings_exit_0_unless_strict(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = str(files["warnings"])
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert "warning TX105" in out
    assert "warning TX106" in out
    assert "0 error(s), 2 warning(s)" in out
    assert f"{path}: 2 task(s), valid" in out

    code, out, _ = run(capsys, "validate", "--strict", path)
    assert code == 2
    assert "warning TX105" in out
    assert "valid" not in out.splitlines()[-1]

    # --strict changes nothing for a clean file.
    code, _, _ = run(capsys, "validate", "--strict", str(files["clean"]))
    assert code == 0


def test_validate_json(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(files["broken"]))
    assert code == 2
    doc = json.loads(out)
    assert doc["file"] == str(files["broken"])
    assert doc["ok"] is False
    assert doc["tasks"] == 3
    by_code = {d["code"]: d for d in doc["diagnostics"]}
    assert set(by_code) == {"TX102", "TX105", "TX107"}
    d = by_code["TX102"]
    assert set(d) >= {"code", "severity", "message", "file", "line", "hint", "task_id"}
    assert d["severity"] == "error"
    assert d["line"] == line_of(BROKEN, "T011")
    assert d["task_id"] == "T002"
    assert d["hint"] == "did you mean T010?"
    assert by_code["TX105"]["severity"] == "warning"

    code, out, _ = run(capsys, "validate", "--json", str(files["clean"]))
    assert code == 0
    assert json.loads(out) == {
        "file": str(files["clean"]),
        "ok": True,
        "tasks": 8,
        "diagnostics": [],
    }


def test_validate_json_strict(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(files["warnings"]))
    assert code == 0
    assert json.loads(out)["ok"] is True
    code, out, _ = run(capsys, "validate", "--json", "--strict", str(files["warnings"]))
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False
    assert {d["severity"] for d in doc["diagnostics"]} == {"warning"}


def test_validate_mode_changes_the_result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # File order is inferred only in template mode; there, T001's stated dependency on
    # the later T002 sets file order aside (a notice), where before it made a false cycle.
    path = tmp_path / "tasks.md"
    path.write_text(
        "- [ ] T001 A (depends on T002)\n  - taskexec: run=true\n"
        "- [ ] T002 B\n  - taskexec: run=true\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert "info TX116: T002 does not wait for T001" in out and "TX103" not in out
    code, out, _ = run(capsys, "validate", "--mode", "explicit", str(path))
    assert code == 0
    assert "TX116" not in out


# --- plan --------------------------------------------------------------------------------------


def test_plan_table(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    path = files["clean"]
    code, out, err = run(capsys, "plan", str(path))
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    plan = taskexec_nb.load(path)
    assert lines[0] == plan.summary()
    assert lines[0].startswith(f"8 tasks in 4 phase(s) from {path}, mode template: ")
    assert "6 to run" in lines[0]
    assert "1 done, 1 cancelled" in lines[0]
    header = lines[2].split()
    assert header == [
        *("ID", "PHASE", "STORY", "P", "STATUS", "WAVE", "DEPENDS", "ON", "ACTION"),
        "DESCRIPTION",
    ]
    rows = {ln.split()[0]: ln for ln in lines[3:] if ln.strip()}
    assert list(rows) == [f"T00{i}" for i in range(1, 9)]
    assert rows["T004"].split()[:4] == ["T004", "2", "US1", "pending"]
    assert "shell" in rows["T004"].split()
    # T005 is cancelled: it is listed but imposes nothing, so T006 is in wave 2 after T004.
    assert rows["T006"].split()[:8] == [
        "T006",
        "2",
        "US1",
        "pending",
        "2",
        "T004,",
        "T005",
        "command",
    ]
    assert " done " in rows["T001"]
    assert " cancelled " in rows["T005"]
    assert rows["T002"].split()[:3] == ["T002", "1", "-"]
    assert rows["T002"].split()[3] == "P"
    # No diagnostics: no summary of them either.
    assert "error(s)" not in out


def test_plan_table_shows_warnings(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    code, out, err = run(capsys, "plan", str(files["warnings"]))
    assert code == 0
    assert err == ""
    assert "warning TX105" in out
    assert "0 error(s), 2 warning(s)" in out


def test_plan_table_cuts_long_lines_and_many_deps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    long_text = "word " * 60
    path = tmp_path / "tasks.md"
    path.write_text(
        "".join(f"- [ ] T00{i} [P] Part {i}\n" for i in range(1, 6))
        + f"- [ ] T006 Join {long_text}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "plan", str(path))
    assert code == 0
    row = next(ln for ln in out.splitlines() if ln.startswith("T006"))
    assert "T001, T002, T003 +2" in row
    assert row.endswith("…")
    assert len(row) <= 120


def test_plan_json(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    path = files["clean"]
    code, out, _ = run(capsys, "plan", "--json", str(path))
    assert code == 0
    doc = json.loads(out)
    assert doc["file"] == str(path)
    assert doc["mode"] == "template"
    assert doc["diagnostics"] == []
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert list(tasks) == [f"T00{i}" for i in range(1, 9)]
    required = {
        "id",
        "line",
        "checked",
        "cancelled",
        "parallel",
        "story",
        "phase",
        "explicit_deps",
        "depends_on",
    }
    for t in doc["tasks"]:
        assert required <= set(t), t
    t1, t2, t4, t5, t6 = (tasks[i] for i in ("T001", "T002", "T004", "T005", "T006"))
    assert t1["checked"] is True
    assert t1["cancelled"] is False
    assert t2["checked"] is False
    assert t2["parallel"] is True
    assert t4["parallel"] is False
    assert t5["cancelled"] is True
    assert t4["story"] == "US1"
    assert t1["story"] is None
    assert t4["phase"] == "2"
    assert t1["phase"] == "1"
    assert t4["line"] == line_of(CLEAN, "T004")
    assert t6["explicit_deps"] == ["T004"]
    assert "T004" in t6["depends_on"]
    assert t4["explicit_deps"] == []
    assert t4["action"] == "shell"
    # Template mode: phases in order, consecutive [P] tasks together.
    assert set(t4["depends_on"]) == {"T002", "T003"}
    assert tasks["T003"]["depends_on"] == ["T001"]
    assert doc["waves"][0] == ["T002", "T003"]
    assert doc["critical_path"][0] in ("T002", "T003")
    assert doc["critical_path"][-1] == "T008"


def test_plan_json_checked_reads_boxes_in_table_rows_and_headings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = Path(__file__).parent / "fixtures" / "boxed_rows_and_headings.md"
    code, out, _ = run(capsys, "plan", "--json", str(path))
    assert code == 0
    checked = {t["id"]: t["checked"] for t in json.loads(out)["tasks"]}
    assert checked == {
        "T001": True, "T002": True, "T004": True, "T006": False, "T005": True, "T008": False
    }  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "t007", "t008"),
    [
        ("template", ["T006"], ["T007"]),
        ("stories", ["T002", "T003"], ["T006", "T007"]),
        ("explicit", [], []),
    ],
)
def test_plan_json_modes(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    mode: str,
    t007: list[str],
    t008: list[str],
) -> None:
    code, out, _ = run(capsys, "plan", "--json", "--mode", mode, str(files["clean"]))
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    assert doc["mode"] == mode
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert sorted(tasks["T007"]["depends_on"]) == t007
    assert sorted(tasks["T008"]["depends_on"]) == t008
    # Explicit dependencies are the same in every mode.
    assert tasks["T006"]["explicit_deps"] == ["T004"]
    assert "T004" in tasks["T006"]["depends_on"]


def test_plan_with_errors_text(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    # The table of every task read comes first, then the problems; exit 2 as before.
    path = files["broken"]
    code, out, err = run(capsys, "plan", str(path))
    assert code == 2
    table = [line.split()[0] for line in out.split("\n") if re.match(r"T\d{3} ", line)]
    assert table == ["T001", "T002", "T010"]
    assert "2 error(s), so it cannot run" in out.split("\n")[0]
    first_diag = out.index(f"{path}:{line_of(BROKEN, 'timout')}: error TX107: ")
    assert out.index("T010 ") < first_diag
    assert f"{path}:{line_of(BROKEN, 'T011')}: error TX102: " in out
    assert "2 error(s), 1 warning(s)" in out
    assert err == ""


def test_plan_with_errors_json(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "plan", "--json", str(files["broken"]))
    assert code == 2
    doc = json.loads(out)
    assert doc["file"] == str(files["broken"])
    assert [t["id"] for t in doc["tasks"]] == ["T001", "T002", "T010"]
    assert doc["waves"] == [["T001"], ["T002"], ["T010"]]
    assert {d["code"] for d in doc["diagnostics"] if d["severity"] == "error"} == {
        "TX102",
        "TX107",
    }


DUPLICATE_AND_CYCLE = md(
    """\
    # Tasks

    - [ ] T001 Start
      - taskexec: run="true"
    - [ ] T002 Next (depends on T003)
      - taskexec: run="true"
    - [ ] T003 Then (depends on T002)
      - taskexec: run="true"
    - [ ] T002 Again
    """
)


@pytest.mark.parametrize("as_json", [False, True])
def test_plan_of_duplicate_id_and_cycle_lists_every_task(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, as_json: bool
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(DUPLICATE_AND_CYCLE, encoding="utf-8")
    code, out, err = run(capsys, "plan", str(path), *(["--json"] if as_json else []))
    assert code == 2
    if as_json:
        doc = json.loads(out)
        assert [t["id"] for t in doc["tasks"]] == ["T001", "T002", "T003"]
        # T002 waits for T001 (file order) and T003, T003 for T002 (both declared: file
        # order alone no longer closes a cycle with a stated edge): the cycle's
        # first task in file order stops waiting inside it, so the waves still exist.
        assert doc["waves"] == [["T001"], ["T002"], ["T003"]]
        assert {d["code"] for d in doc["diagnostics"]} >= {"TX101", "TX103"}
    else:
        assert re.search(r"^T003 .* 2 ", out, re.M)
        assert "error TX101: duplicate task ID T002" in out
        assert "error TX103: dependency cycle" in out
    # run still refuses the file, naming the problems, and runs nothing.
    code, out, err = run(capsys, "run", str(path))
    assert code == 2
    assert "TX101" in err and "TX103" in err
    assert "[X]" not in path.read_text(encoding="utf-8")


# --- bad input and usage -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("as_json", [False, True])
def test_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, as_json: bool
) -> None:
    path = tmp_path / "no-such-tasks.md"
    argv = [command, str(path)] + (["--json"] if as_json else [])
    code, out, err = run(capsys, *argv)
    assert code == 2
    text = out + err
    assert "Traceback" not in text
    if as_json:
        doc = json.loads(out)
        (d,) = doc["diagnostics"]
        assert d["code"] == "TX001"
        assert "cannot read file" in d["message"]
    else:
        assert f"{path}: error TX001: cannot read file" in text


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert "usage: taskexec" in out
    assert "validate" in out
    assert "plan" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"taskexec {taskexec_nb.__version__}"


def test_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out
    assert "130" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--mode", "bogus", "x.md"],
        ["validate", "--mode", "bogus", "x.md"],
        ["validate"],
        ["plan", "--strict", "x.md"],
        ["frobnicate", "x.md"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: taskexec" in err
    if "bogus" in argv:
        assert "invalid choice: 'bogus'" in err


def test_taskexec_error_becomes_a_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]
) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise UsageError("something the user did")

    monkeypatch.setattr(cli_validate, "validate_taskfile", boom)
    code, out, err = run(capsys, "validate", str(files["clean"]))
    assert code == 2
    assert out == ""
    assert err == "taskexec: error: something the user did\n"


def test_interrupt_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]
) -> None:
    def interrupt(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_validate, "validate_taskfile", interrupt)
    code, _, err = run(capsys, "plan", str(files["clean"]))
    assert code == 130
    assert "interrupted" in err


# --- as a real process -------------------------------------------------------------------------


def _proc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARN")}
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, encoding="utf-8", env=env, timeout=120
    )


def test_module_validate_subprocess(files: dict[str, Path], tmp_path: Path) -> None:
    path = files["broken"]
    proc = _proc([sys.executable, "-m", "taskexec_nb.cli", "validate", str(path)], tmp_path)
    assert proc.returncode == 2
    assert f"{path}:{line_of(BROKEN, 'T011')}: error TX102: " in proc.stdout
    assert "Traceback" not in proc.stderr

    proc = _proc(
        [sys.executable, "-m", "taskexec_nb.cli", "validate", str(files["clean"])], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_module_plan_json_subprocess(files: dict[str, Path], tmp_path: Path) -> None:
    argv = ["plan", "--json", "--mode", "explicit", str(files["clean"])]
    proc = _proc([sys.executable, "-m", "taskexec_nb.cli", *argv], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["mode"] == "explicit"
    assert len(doc["tasks"]) == 8


def test_module_missing_file_subprocess(tmp_path: Path) -> None:
    for command in ("validate", "plan"):
        proc = _proc([sys.executable, "-m", "taskexec_nb.cli", command, "gone.md"], tmp_path)
        assert proc.returncode == 2
        assert "gone.md: error TX001: cannot read file" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr


def test_module_no_command_and_bad_mode_subprocess(tmp_path: Path) -> None:
    proc = _proc([sys.executable, "-m", "taskexec_nb.cli"], tmp_path)
    assert proc.returncode == 2
    assert "usage: taskexec" in proc.stdout
    proc = _proc([sys.executable, "-m", "taskexec_nb.cli", "plan", "--mode", "x", "a.md"], tmp_path)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


ENTRY_POINT = Path(sys.executable).parent / ("taskexec.exe" if os.name == "nt" else "taskexec")


@pytest.mark.skipif(not ENTRY_POINT.exists(), reason="taskexec entry point not installed")
def test_installed_entry_point(files: dict[str, Path], tmp_path: Path) -> None:
    proc = _proc([str(ENTRY_POINT), "--version"], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"taskexec {taskexec_nb.__version__}"
    proc = _proc([str(ENTRY_POINT), "validate", "--strict", str(files["warnings"])], tmp_path)
    assert proc.returncode == 2
    assert "warning TX105" in proc.stdout
    proc = _proc([str(ENTRY_POINT), "plan", str(files["clean"])], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("8 tasks in 4 phase(s)")


HEAVY = ("pandas", "plotly", "ipywidgets", "papermill", "numpy")

_PROBE = """
import json, sys
import taskexec_nb.cli
try:
    code = taskexec_nb.cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("@@" + json.dumps({{"code": code, "heavy": heavy}}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["plan"], ["validate", "--json"]])
def test_cli_does_not_import_heavy_libraries(
    files: dict[str, Path], tmp_path: Path, argv: list[str]
) -> None:
    args = [*argv, str(files["clean"])] if argv != ["--help"] else argv
    proc = _proc([sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), *args], tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.rsplit("@@", 1)[1])
    assert report["code"] == 0
    assert report["heavy"] == []


def test_help_import_time_has_no_pandas(tmp_path: Path) -> None:
    proc = _proc([sys.executable, "-X", "importtime", "-m", "taskexec_nb.cli", "--help"], tmp_path)
    assert proc.returncode == 0
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
    assert "taskexec_nb.cli.run" in imported  # the report was read
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_a_command_line_declares_only_its_commands_options() -> None:
    from taskexec_nb.cli import COMMANDS, _parser

    light = _parser(declared=["validate"])
    assert light.format_help() == _parser().format_help()  # every command, its help
    args = light.parse_args(["validate", "x.md", "--strict", "--mode", "explicit"])
    assert (args.file, args.strict, args.mode) == ("x.md", True, "explicit")
    assert light.parse_args(["run"]).command == "run"  # listed, its options not declared
    with pytest.raises(SystemExit):
        light.parse_args(["run", "--jobs", "2"])
    full = _parser()
    assert full.parse_args(["run", "x.md", "--jobs", "2"]).max_workers == 2
    assert set(COMMANDS) <= set(full.format_help().split())
