"""``taskexec run`` flags for every setting a resume keeps: allow-failure, backoff, kill-grace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import counts, write_tasks

from taskexec_nb.cli import main

FAILS_THEN_DEPENDENT = (
    "# Tasks\n\n## Phase 1: Setup\n\n"
    "- [ ] T001 Fails until fixed\n"
    '  - taskexec: run="echo T001 >> count.txt; test -e fixed"\n'
    "- [ ] T002 Needs T001 (depends on T001)\n"
    '  - taskexec: run="echo T002 >> count.txt"\n'
)


def test_allow_failure_lets_dependents_run_and_a_resume_can_turn_it_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    assert main(["run", str(path), "--allow-failure", "--no-writeback"]) == 0
    assert counts(tmp_path) == ["T001", "T002"]  # T002 ran despite T001's failure
    assert "failed (allowed) T001" in capsys.readouterr().err  # the progress view
    # A resume keeps allow_failure unless told otherwise; --no-allow-failure says otherwise.
    assert main(["run", str(path), "--resume"]) == 0
    assert "allow_failure=true (now false)" in capsys.readouterr().err
    assert main(["run", str(path), "--resume", "--no-allow-failure"]) == 1
    captured = capsys.readouterr()
    assert "allow_failure=" not in captured.err
    assert "FAILED    T001" in captured.err


def test_backoff_sets_the_wait_between_retries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    start = time.monotonic()
    assert main(["run", str(path), "--retries", "2", "--backoff", "0", "--no-writeback"]) == 1
    assert time.monotonic() - start < 5  # the default backoff alone would wait 1 + 2 s
    assert counts(tmp_path) == ["T001"] * 3
    assert "(next in 0 s)" in capsys.readouterr().err
    (tmp_path / "count.txt").unlink()
    assert main(["run", str(path), "--retries", "1", "--backoff", "1.5", "--no-writeback"]) == 1
    assert "(next in 1.5 s)" in capsys.readouterr().err


def test_kill_grace_is_the_time_between_sigterm_and_sigkill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        "# Tasks\n\n## Phase 1: Setup\n\n- [ ] T001 Ignores SIGTERM\n"
        "  - taskexec: timeout=0.5s\n\n"
        "  ```bash\n  trap 'date +%s.%N > term' TERM\n"
        "  while true; do sleep 0.1 || true; done\n  ```\n",  # its sleeps get SIGTERM too
    )
    assert main(["run", str(path), "--kill-grace", "1s", "--no-writeback"]) == 1
    ended = time.time()
    assert "timed out after 0.5 s" in capsys.readouterr().err
    # SIGKILL came about 1 s after the SIGTERM it ignored, not after the default 5 s.
    after_term = ended - float((tmp_path / "term").read_text())
    assert 0.8 < after_term < 4.0, after_term


@pytest.mark.parametrize("flag", ["--backoff", "--kill-grace"])
def test_a_bad_duration_is_a_usage_error_naming_the_flag(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), flag, "soon"])
    assert exited.value.code == 2
    assert f"argument {flag}: 'soon' is not a duration" in capsys.readouterr().err
    assert counts(tmp_path) == []


def test_status_json_gives_allowed_and_ticked_as_booleans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, FAILS_THEN_DEPENDENT)
    assert main(["run", str(path), "--allow-failure"]) == 0
    capsys.readouterr()
    assert main(["status", "--state-dir", str(tmp_path / ".taskexec"), "--json"]) == 0
    tasks = {t["task_id"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert (tasks["T001"]["allowed"], tasks["T001"]["ticked"]) == (True, False)
    assert (tasks["T002"]["allowed"], tasks["T002"]["ticked"]) == (False, True)


def test_every_flagged_setting_has_its_option_and_its_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.cli_run import _FLAGS
    from taskexec_nb.config.flags import FLAGGED

    monkeypatch.setenv("COLUMNS", "500")  # no line breaks inside a help text

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert set(_FLAGS) == set(FLAGGED) and _FLAGS["max_workers"] == "--jobs"
    for spec in FLAGGED.values():
        assert all(flag in out for flag in spec.flags), spec.name
        assert " ".join(spec.help.split()) in out, spec.name
    assert "--no-fail-fast" in out and "{template,stories,explicit}" in out


def test_flags_become_the_settings_they_declare(tmp_path: Path) -> None:
    from taskexec_nb.cli import _parser
    from taskexec_nb.config.flags import cli_arguments
    from taskexec_nb.errors import UsageError

    args = _parser().parse_args(
        [
            *("run", "tasks.md", "-j", "3", "--resource", "gpu=1", "--resource", "cpu=2"),
            *("--no-fail-fast", "--timeout", "5m", "--only", "T001,US1", "--only", "T002"),
            *("--agent-command", '["my-agent", "{prompt}"]', "--state-dir", str(tmp_path)),
            *("--from", "T001", "--mode", "stories"),
        ]
    )
    given = {k: v for k, v in cli_arguments(args).items() if v is not None}
    assert given == {
        "max_workers": 3,
        "resources": {"gpu": 1.0, "cpu": 2.0},
        "fail_fast": False,
        "timeout": 300.0,
        "agent_command": ["my-agent", "{prompt}"],
        "state_dir": str(tmp_path.resolve()),
        "mode": "stories",
        "only": ["T001", "US1", "T002"],
        "from_task": "T001",
    }
    bad = _parser().parse_args(["run", "x.md", "--resource", "gpu"])
    with pytest.raises(UsageError, match=r"--resource 'gpu': write NAME=AMOUNT, e.g. gpu=1"):
        cli_arguments(bad)
    bad = _parser().parse_args(["run", "x.md", "--agent-command", "a 'b"])
    with pytest.raises(UsageError, match="--agent-command: No closing quotation"):
        cli_arguments(bad)
    assert set(cli_arguments(_parser().parse_args(["run"])).values()) == {None}
