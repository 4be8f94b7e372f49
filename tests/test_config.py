"""Configuration: every source, the whole precedence chain, overrides, and secrets masked."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import compiled_on_import, md
from hypothesis import given, settings
from hypothesis import strategies as st

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.cli.terminal import TerminalView
from taskexec_nb.config import (
    SCALAR_SETTINGS,
    Config,
    find_config,
    resolve,
)
from taskexec_nb.errors import ConfigError, UsageError
from taskexec_nb.run.launch import RunRequest, start_run
from taskexec_nb.secrets import MASK, Masker, is_secret_name, mask_env, secret_values
from taskexec_nb.settings import SETTINGS, RunSettings
from taskexec_nb.store import StateStore

TASKS = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 First
    - [ ] T002 [US1] Second
    """
)


def project(tmp_path: Path, toml: str | None = None, *, tasks: str = TASKS) -> Path:
    """A project folder (a git root) with tasks.md in specs/ and taskexec.toml at the top."""
    (tmp_path / ".git").mkdir(exist_ok=True)
    spec = tmp_path / "specs"
    spec.mkdir(exist_ok=True)
    (spec / "tasks.md").write_text(tasks)
    if toml is not None:
        (tmp_path / "taskexec.toml").write_text(md(toml))
    return spec / "tasks.md"


# --- sources ---------------------------------------------------------------------------------


def test_defaults_apply_without_any_config(tmp_path: Path) -> None:
    tasks = project(tmp_path)
    config = resolve(tasks, environ={})
    assert config.file is None and config.profile is None
    assert config.settings == RunSettings()
    assert config.mode == "template"
    assert set(config.sources) == set()
    assert "default" in config.show()


def test_taskexec_toml_is_found_by_walking_up_and_lines_are_named(tmp_path: Path) -> None:
    tasks = project(
        tmp_path,
        """\
        # comment
        max_workers = 3
        mode = "stories"
        shell = "/bin/bash"
        """,
    )
    config = resolve(tasks, environ={})
    assert config.file == tmp_path / "taskexec.toml"
    assert config.settings.max_workers == 3 and config.mode == "stories"
    assert config.settings.shell == "/bin/bash"
    assert config.sources["max_workers"] == f"{tmp_path / 'taskexec.toml'}:2"
    assert config.sources["mode"].endswith("taskexec.toml:3")


def test_pyproject_tool_table_is_used_and_a_pyproject_without_it_is_not(tmp_path: Path) -> None:
    tasks = project(tmp_path)
    (tasks.parent / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tasks) is None  # no [tool.taskexec] here, nothing above
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.taskexec]\nretries = 2\n\n'
        "[tool.taskexec.profiles.ci]\nretries = 5\n"
    )
    config = resolve(tasks, environ={})
    assert config.file == tmp_path / "pyproject.toml"
    assert config.settings.retries == 2
    assert config.sources["retries"].endswith("pyproject.toml:5")
    ci = resolve(tasks, profile="ci", environ={})
    assert ci.settings.retries == 5
    assert ci.sources["retries"].endswith("pyproject.toml:8 (profile ci)")


def test_taskexec_toml_wins_over_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    tasks = project(tmp_path, "retries = 1\n")
    (tmp_path / "pyproject.toml").write_text("[tool.taskexec]\nretries = 9\n")
    assert resolve(tasks, environ={}).settings.retries == 1


def test_the_search_stops_at_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "taskexec.toml").write_text("retries = 7\n")
    inner = tmp_path / "repo"
    inner.mkdir()
    tasks = project(inner)
    assert resolve(tasks, environ={}).settings.retries == 0
    (inner / ".git").rmdir()
    assert resolve(tasks, environ={}).settings.retries == 7


def test_profiles_extend_and_can_be_chosen_four_ways(tmp_path: Path) -> None:
    tasks = project(
        tmp_path,
        """\
        default_profile = "local"
        timeout = 10

        [profiles.local]
        max_workers = 4

        [profiles.ci]
        extends = "local"
        fail_fast = true

        [profiles.gpu]
        extends = "ci"
        resources = {gpu = 1}
        """,
    )
    assert resolve(tasks, environ={}).profile == "local"
    by_env = resolve(tasks, environ={"TASKEXEC_PROFILE": "ci"})
    by_arg = resolve(tasks, profile="gpu", environ={"TASKEXEC_PROFILE": "ci"})
    assert by_env.profile == "ci" and by_arg.profile == "gpu"
    assert by_env.settings.max_workers == 4 and by_env.settings.fail_fast
    assert dict(by_arg.settings.resources) == {"gpu": 1}
    assert by_arg.settings.fail_fast and by_arg.settings.max_workers == 4
    assert by_arg.settings.timeout == 10
    plan = taskexec_nb.load(tasks, profile="gpu")
    assert plan.profile == "gpu"


def test_environment_variables_set_scalar_settings(tmp_path: Path) -> None:
    tasks = project(tmp_path)
    environ = {
        "TASKEXEC_MAX_WORKERS": "5",
        "TASKEXEC_FAIL_FAST": "yes",
        "TASKEXEC_WRITEBACK": "0",
        "TASKEXEC_TIMEOUT": "2.5",
        "TASKEXEC_NO_ACTION": "fail",
        "TASKEXEC_AGENT_COMMAND": "my-agent --prompt '{prompt}'",
        "TASKEXEC_SECRETS": "HOST, PORT",
        "TASKEXEC_ONLY": "T001,US1",
        "TASKEXEC_MODE": "explicit",
        "TASKEXEC_RUN_ID": "not a setting, set by the runner for tasks",
    }
    config = resolve(tasks, environ=environ)
    s = config.settings
    assert (s.max_workers, s.fail_fast, s.writeback, s.timeout) == (5, True, False, 2.5)
    assert s.no_action == "fail" and s.agent_command == ("my-agent", "--prompt", "{prompt}")
    assert s.secrets == ("HOST", "PORT")
    assert config.only == ("T001", "US1") and config.mode == "explicit"
    assert config.sources["max_workers"] == "environment TASKEXEC_MAX_WORKERS"
    assert config.warnings == ()
    as_json = resolve(tasks, environ={"TASKEXEC_AGENT_COMMAND": '["a", "b c"]'})
    assert as_json.settings.agent_command == ("a", "b c")


def test_agent_context_is_a_setting_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = project(tmp_path, "agent_context = false\n")
    config = resolve(tasks, environ={})
    assert config.settings.agent_context is False
    assert config.sources["agent_context"].endswith("taskexec.toml:1")
    env = resolve(tasks, environ={"TASKEXEC_AGENT_CONTEXT": "true"})
    assert env.settings.agent_context is True
    flag = resolve(
        tasks,
        environ={"TASKEXEC_AGENT_CONTEXT": "true"},
        arguments={"agent_context": False},
        argument_names={"agent_context": "--[no-]agent-context"},
    )
    assert flag.settings.agent_context is False
    assert flag.sources["agent_context"] == "--[no-]agent-context"
    assert RunSettings().agent_context is True
    with pytest.raises(UsageError, match="agent_context must be true or false"):
        RunSettings(agent_context="no")  # type: ignore[arg-type]
    (tmp_path / "bad").mkdir()
    bad = project(tmp_path / "bad", "agent_context = 1\n")
    with pytest.raises(ConfigError, match="agent_context"):
        resolve(bad, environ={})
    assert main(["config", "show", str(tasks)]) == 0
    assert any(
        line.split()[:2] == ["agent_context", "false"]
        for line in capsys.readouterr().out.splitlines()
    )


def test_a_relative_agent_program_is_made_absolute_from_where_it_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = project(tmp_path, 'agent_command = "./bin/agent --fast {id}"\n')
    settings = resolve(tasks, environ={}).settings
    assert settings.agent_command == (str(tmp_path / "bin" / "agent"), "--fast", "{id}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env = {"TASKEXEC_AGENT_COMMAND": '["tools/agent", "{id}"]'}
    from_env = resolve(tasks, environ=env).settings
    assert from_env.agent_command == (str(elsewhere / "tools" / "agent"), "{id}")
    # A bare name is looked up on PATH; an absolute path stays as written.
    for argv in (["claude", "-p", "{prompt}"], ["/opt/agent", "{id}"]):
        given = resolve(tasks, environ={}, arguments={"agent_command": argv}).settings
        assert given.agent_command == tuple(argv)


def test_agent_command_in_the_file_may_be_a_shell_line(tmp_path: Path) -> None:
    tasks = project(
        tmp_path,
        """\
        agent_command = "my-agent --prompt '{prompt}' --fast"

        [profiles.ci]
        agent_command = "ci-agent {id}"
        """,
    )
    settings = resolve(tasks, environ={}).settings
    assert settings.agent_command == ("my-agent", "--prompt", "{prompt}", "--fast")
    ci = resolve(tasks, profile="ci", environ={}).settings
    assert ci.agent_command == ("ci-agent", "{id}")
    (tmp_path / "bad").mkdir()
    bad = project(tmp_path / "bad", 'retries = 1\nagent_command = "my-agent \'{prompt}"\n')
    with pytest.raises(ConfigError, match=r"taskexec.toml:2: agent_command: cannot split") as err:
        resolve(bad, environ={})
    assert "No closing quotation" in str(err.value)
    (tmp_path / "empty").mkdir()
    empty = project(tmp_path / "empty", 'agent_command = "  "\n')
    with pytest.raises(ConfigError, match="agent_command: must not be empty"):
        resolve(empty, environ={})
    (tmp_path / "number").mkdir()
    number = project(tmp_path / "number", "agent_command = 42\n")
    with pytest.raises(ConfigError) as err:
        resolve(number, environ={})
    assert "taskexec.toml:1: agent_command: must be a list of strings or one string" in str(
        err.value
    )


def test_every_scalar_setting_is_readable_from_the_environment() -> None:
    fields = SETTINGS
    assert set(SCALAR_SETTINGS) == set(fields) - {"env", "resources", "executors"}


def test_env_files_and_inline_env_merge_key_by_key(tmp_path: Path) -> None:
    tasks = project(
        tmp_path,
        """\
        env_file = [".env", ".env.local"]

        [env]
        A = "inline"
        N = 3

        [profiles.ci]
        env = {B = "ci"}
        """,
    )
    (tmp_path / ".env").write_text("A=from-dotenv\nB=dotenv\nC='quoted value'\nexport D=4\n")
    (tmp_path / ".env.local").write_text("# local\nC=local\n")
    config = resolve(tasks, profile="ci", environ={})
    assert dict(config.settings.env) == {"A": "inline", "B": "ci", "C": "local", "D": "4", "N": "3"}
    assert config.sources["env.A"].endswith("taskexec.toml:4")
    assert config.sources["env.C"].endswith("taskexec.toml:1 (env_file)")
    assert config.sources["env.B"].endswith("(profile ci)")


def test_paths_in_the_config_are_relative_to_the_config_file(tmp_path: Path) -> None:
    tasks = project(tmp_path, 'state_dir = "state"\nlog_dir = "logs"\ncwd = "."\n')
    s = resolve(tasks, environ={}).settings
    assert s.state_dir == tmp_path / "state" and s.log_dir == tmp_path / "logs"
    assert s.cwd == tmp_path


# --- the precedence chain ------------------------------------------------------------------

CHAIN_TOML = """\
retries = 1
backoff = 0

[profiles.ci]
retries = 2

[[overrides]]
tasks = "T00[23]"
retries = 5
"""


@pytest.mark.parametrize(
    ("profile", "environ", "arguments", "expected", "source"),
    [
        (None, {}, {}, 1, "taskexec.toml:1"),
        ("ci", {}, {}, 2, "taskexec.toml:5 (profile ci)"),
        ("ci", {"TASKEXEC_RETRIES": "3"}, {}, 3, "environment TASKEXEC_RETRIES"),
        ("ci", {"TASKEXEC_RETRIES": "3"}, {"retries": 4}, 4, "--retries"),
    ],
    ids=["file", "profile", "environment", "argument"],
)
def test_each_layer_wins_over_the_one_below(
    tmp_path: Path,
    profile: str | None,
    environ: dict[str, str],
    arguments: dict[str, Any],
    expected: int,
    source: str,
) -> None:
    tasks = project(tmp_path, CHAIN_TOML)
    config = resolve(
        tasks,
        profile=profile,
        environ=environ,
        arguments=arguments,
        argument_names={"retries": "--retries"},
    )
    assert config.settings.retries == expected
    assert config.sources["retries"].endswith(source)
    shown = config.show()
    assert any(
        line.split()[:2] == ["retries", str(expected)] and line.endswith(source)
        for line in shown.splitlines()
    ), shown


CHAIN_TASKS = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 [P] Plain
      ~~~bash
      echo x >> tries-T001
      exit 1
      ~~~
    - [ ] T002 [P] Overridden
      ~~~bash
      echo x >> tries-T002
      exit 1
      ~~~
    - [ ] T003 [P] Overridden and annotated
      - taskexec: retries=6
      ~~~bash
      echo x >> tries-T003
      exit 1
      ~~~
    """
)


def test_the_whole_chain_end_to_end_through_the_cli(tmp_path: Path) -> None:
    """defaults < file < profile < environment < CLI < overrides < annotation, in a real run."""
    tasks = project(tmp_path, CHAIN_TOML, tasks=CHAIN_TASKS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKEXEC_")}
    env["TASKEXEC_RETRIES"] = "3"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "taskexec_nb.cli", "run", str(tasks)),
            *("--profile", "ci", "--retries", "4", "--no-writeback"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    tries = {t: len((tasks.parent / f"tries-{t}").read_text().split()) for t in ("T001", "T002")}
    tries["T003"] = len((tasks.parent / "tries-T003").read_text().split())
    # T001: the CLI's 4 (over env 3, profile 2, file 1); T002: the override's 5;
    # T003: its own annotation's 6.
    assert tries == {"T001": 5, "T002": 6, "T003": 7}
    with closing(StateStore(tasks.parent / ".taskexec" / "state.db")) as store:
        run_id = store.latest_run()
        assert run_id is not None
        recorded = json.loads(store.run(run_id).settings)
    assert recorded["retries"] == 4
    assert recorded["config"]["profile"] == "ci"
    assert recorded["config"]["sources"]["retries"] == "--retries"
    assert recorded["overrides"][0]["tasks"] == ["T00[23]"]


def test_overrides_match_phase_story_and_id_pattern(tmp_path: Path) -> None:
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Setup thing

        ## Phase 2: User Story 1 - Login

        - [ ] T010 [US1] Model
        - [ ] T011 [US1] Endpoint
          - taskexec: timeout=99 env.MODE=own
        """
    )
    tasks = project(
        tmp_path,
        """\
        [[overrides]]
        phase = "setup"
        retries = 2

        [[overrides]]
        story = "US1"
        timeout = 30
        env = {MODE = "story", EXTRA = "1"}

        [[overrides]]
        tasks = ["T01[1-9]"]
        allow_failure = true
        needs = {gpu = 1}

        [[overrides]]
        phase = 2
        executor = "agent"
        """,
        tasks=text,
    )
    config = resolve(tasks, environ={})
    plan = taskexec_nb.load(tasks)
    t1, t10, t11 = (config.task_params(plan[t]) for t in ("T001", "T010", "T011"))
    assert t1.retries == 2 and t1.timeout is None and t1.executor is None
    assert t10.timeout == 30 and dict(t10.env) == {"MODE": "story", "EXTRA": "1"}
    assert t10.allow_failure is None and t10.executor == "agent"
    assert t11.timeout == 99  # the annotation wins over the override
    assert dict(t11.env) == {"MODE": "own", "EXTRA": "1"}
    assert t11.allow_failure is True and dict(t11.resources) == {"gpu": 1}
    # The plan keeps what the file says; the overrides apply when a run resolves its tasks.
    assert plan["T001"].params.retries is None and plan["T011"].params.timeout == 99
    listed = config.to_dict()["overrides"]
    assert [o["source"].rsplit(":", 1)[1] for o in listed] == ["1", "5", "10", "15"]


def test_an_override_changes_what_the_scheduler_does(tmp_path: Path) -> None:
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Fails but is allowed to
          ~~~bash
          exit 3
          ~~~
        - [ ] T002 Runs after it
          ~~~bash
          echo ok > after.txt
          ~~~
        """
    )
    tasks = project(tmp_path, '[[overrides]]\ntasks = "T001"\nallow_failure = true\n', tasks=text)
    handle = taskexec_nb.load(tasks).run(writeback=False)
    assert handle.result.value == "completed"
    assert (tasks.parent / "after.txt").read_text() == "ok\n"


def test_config_settings_for_which_tasks_to_run(tmp_path: Path) -> None:
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 [P] One
          ~~~bash
          touch one
          ~~~
        - [ ] T002 [P] Two
          ~~~bash
          touch two
          ~~~
        """
    )
    tasks = project(tmp_path, 'only = "T002"\n', tasks=text)
    handle = taskexec_nb.load(tasks).run(writeback=False)
    assert handle.selection == ["T002"]
    assert (tasks.parent / "two").exists() and not (tasks.parent / "one").exists()


def test_log_dir_and_retention(tmp_path: Path) -> None:
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Talk
          ~~~bash
          echo hello
          ~~~
        """
    )
    tasks = project(
        tmp_path, 'log_dir = "logs"\nlog_retention = 2\nwriteback = false\n', tasks=text
    )
    run_ids = [taskexec_nb.load(tasks).run().run_id for _ in range(3)]
    kept = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert kept == sorted(run_ids[1:])
    assert (tmp_path / "logs" / run_ids[2] / "T001.1.log").read_text() == "hello\n"


def test_executor_options_reach_the_executors(tmp_path: Path) -> None:
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Which python
          ~~~python
          import sys
          print(sys.executable)
          ~~~
        """
    )
    fake = tmp_path / "mypython"
    fake.write_text(f'#!/bin/sh\necho "wrapped"\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    toml = f'writeback = false\n[executors.python]\ninterpreter = "{fake}"\n'
    tasks = project(tmp_path, toml, tasks=text)
    handle = taskexec_nb.load(tasks).run()
    log = (handle.log_dir / "T001.1.log").read_text()
    assert log.startswith("wrapped\n")


# --- the CLI and the API --------------------------------------------------------------------


def test_nothing_configured_only_where_resolve_gives_the_defaults(tmp_path: Path) -> None:
    from taskexec_nb.config.files import DEFAULT_MODE, nothing_configured

    for name in ("bare", "toml", "pyproject"):
        (tmp_path / name).mkdir()
    bare = project(tmp_path / "bare")
    assert nothing_configured(bare, environ={"TASKEXEC_CORPUS": "x", "PATH": "/bin"})
    defaults = resolve(bare, environ={"TASKEXEC_CORPUS": "x"})
    assert (defaults.mode, defaults.warnings, defaults.file) == (DEFAULT_MODE, (), None)
    assert defaults.settings == RunSettings().with_overrides(overrides=())
    assert defaults.settings.agent_command is None
    # Any other layer may set something: a config file, a profile, a TASKEXEC_ variable.
    assert not nothing_configured(project(tmp_path / "toml", "retries = 1\n"), environ={})
    piped = project(tmp_path / "pyproject")
    (tmp_path / "pyproject" / "pyproject.toml").write_text("[tool.taskexec]\nretries = 1\n")
    assert not nothing_configured(piped, environ={})
    (tmp_path / "pyproject" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert nothing_configured(piped, environ={})  # a pyproject without the table is not one
    assert not nothing_configured(bare, "ci", environ={})
    assert not nothing_configured(bare, environ={"TASKEXEC_PROFILE": "ci"})
    assert not nothing_configured(bare, environ={"TASKEXEC_MAX_WORKRS": "2"})


def test_validate_reads_variables_and_profiles_without_a_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = project(tmp_path)
    assert main(["validate", str(tasks)]) == 0
    assert "warning: environment" not in capsys.readouterr().err
    monkeypatch.setenv("TASKEXEC_MAX_WORKRS", "2")
    assert main(["validate", str(tasks)]) == 0
    err = capsys.readouterr().err
    assert "TASKEXEC_MAX_WORKRS is not a setting; did you mean TASKEXEC_MAX_WORKERS?" in err
    monkeypatch.delenv("TASKEXEC_MAX_WORKRS")
    monkeypatch.setenv("TASKEXEC_MODE", "explicit")
    monkeypatch.setenv("TASKEXEC_AGENT_COMMAND", "my-agent --prompt {prompt}")
    assert main(["validate", str(tasks)]) == 0
    assert "agent command: argv (no shell)" in capsys.readouterr().out
    monkeypatch.delenv("TASKEXEC_MODE")
    monkeypatch.delenv("TASKEXEC_AGENT_COMMAND")
    monkeypatch.setenv("TASKEXEC_PROFILE", "ci")
    assert main(["validate", str(tasks)]) == 2
    assert "profile 'ci' (from TASKEXEC_PROFILE) was asked for" in capsys.readouterr().err


def test_config_show_prints_values_and_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = project(tmp_path, 'max_workers = 2\n[env]\nAPI_TOKEN = "tok-123456"\nHOST = "h"\n')
    monkeypatch.setenv("TASKEXEC_RETRIES", "3")
    assert main(["config", "show", str(tasks)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and " " in line}
    assert lines["max_workers"].split()[1] == "2" and lines["max_workers"].endswith(":1")
    assert lines["retries"].endswith("environment TASKEXEC_RETRIES")
    assert lines["env.API_TOKEN"].split()[1] == MASK and "tok-123456" not in out
    assert lines["env.HOST"].split()[1] == "h"
    assert lines["agent_command"].split()[1:3] == ["(not", "set)"] and "null" not in out
    assert main(["config", "show", str(tasks), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["agent_command"]["value"] is None
    assert doc["settings"]["max_workers"] == {"value": 2, "source": f"{tmp_path}/taskexec.toml:1"}
    assert doc["env"]["API_TOKEN"]["value"] == MASK
    monkeypatch.chdir(tasks.parent)
    assert main(["config", "show"]) == 0
    assert "taskexec.toml" in capsys.readouterr().out


def test_config_show_needs_an_action_and_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config"]) == 2
    assert "taskexec config show" in capsys.readouterr().err
    assert main(["config", "show", str(tmp_path / "nope.md")]) == 2
    assert "nope.md: no such file" in capsys.readouterr().err


def test_cli_mode_comes_from_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = project(tmp_path, 'mode = "explicit"\n')
    assert main(["plan", str(tasks), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "explicit"
    assert main(["plan", str(tasks), "--json", "--mode", "stories"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "stories"


def test_status_and_runs_find_the_configured_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = TASKS.replace("- [ ] T002 [US1] Second\n", "")
    tasks = project(tmp_path, 'state_dir = "state"\nno_action = "skip"\n', tasks=text)
    assert main(["run", str(tasks), "--no-writeback"]) == 3  # skipped: incomplete
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert (tmp_path / "state" / "state.db").is_file()


def test_an_explicit_settings_object_skips_the_config(tmp_path: Path) -> None:
    tasks = project(tmp_path, "max_workers = 1\nretries = 3\n")
    plan = taskexec_nb.load(tasks)
    handle = start_run(RunRequest(plan, RunSettings(max_workers=2), start="none"))
    assert handle.settings.retries == 0 and handle.config is None
    handle = start_run(RunRequest(plan, overrides={"retries": 1}, start="none"))
    assert handle.settings.retries == 1 and handle.settings.max_workers == 1
    assert isinstance(handle.config, Config)


def test_a_plan_from_text_uses_no_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, "retries = 3\n")
    monkeypatch.chdir(tmp_path)
    plan = taskexec_nb.loads(TASKS)
    handle = start_run(RunRequest(plan, start="none"))
    assert handle.config is not None and handle.config.file == tmp_path / "taskexec.toml"


# --- secrets ---------------------------------------------------------------------------------

SECRET_TASKS = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Leaks the token
      ~~~bash
      echo "token=$API_TOKEN"
      echo "password=$DB_PASSWORD" >&2
      echo "host=$DEPLOY_HOST"
      printf '%s' "$API_TOKEN" | sha256sum | cut -d' ' -f1 > token.sha
      ~~~
    - [ ] T002 Leaks it in pieces, then fails
      ~~~python
      import os, sys, time
      token = os.environ["API_TOKEN"]
      sys.stdout.write("split:" + token[:4]); sys.stdout.flush()
      time.sleep(0.2)
      sys.stdout.write(token[4:] + "\\n"); sys.stdout.flush()
      raise SystemExit("failed with " + token)
      ~~~
    """
)
TOKEN = "tok-5up3r-s3cr3t-value"
PASSWORD = "pw-hunter2-long"
HOST = "deploy.internal.example"


def test_a_secret_a_task_prints_is_masked_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = project(
        tmp_path,
        f"""\
        env_file = ".env"
        secrets = ["DEPLOY_HOST"]
        writeback = false

        [env]
        API_TOKEN = "{TOKEN}"
        DEPLOY_HOST = "{HOST}"
        """,
        tasks=SECRET_TASKS,
    )
    (tmp_path / ".env").write_text(f"DB_PASSWORD={PASSWORD}\n")
    view_out = io.StringIO()
    plan = taskexec_nb.load(tasks)
    handle = plan.run(observers=[TerminalView(view_out, 2, verbose=True)])
    assert handle.result.value == "failed"
    # The task itself got the real value.
    expected = hashlib.sha256(TOKEN.encode()).hexdigest()
    assert (tasks.parent / "token.sha").read_text().strip() == expected
    secrets = [TOKEN, PASSWORD, HOST]

    def clean(text: str | bytes, where: str) -> None:
        data = text.encode() if isinstance(text, str) else text
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} unmasked in {where}"

    state = tasks.parent / ".taskexec"
    logs = sorted(handle.log_dir.glob("*.log"))
    assert logs, "the tasks wrote logs"
    t1_log = (handle.log_dir / "T001.1.log").read_text()
    assert f"token={MASK}" in t1_log and f"password={MASK}" in t1_log and f"host={MASK}" in t1_log
    assert f"split:{MASK}" in (handle.log_dir / "T002.1.log").read_text()
    for path in state.rglob("*"):
        if path.is_file():
            clean(path.read_bytes(), str(path))
    db = sqlite3.connect(state / "state.db")
    dump = "\n".join(db.iterdump())
    db.close()
    clean(dump, "the state store")
    assert f"failed with {MASK}" in dump
    frame = handle.status()
    clean(frame.to_string(), "run.status()")
    clean(repr(handle), "the run handle")
    clean(view_out.getvalue(), "the terminal view")
    report = handle.report()
    exports = tmp_path / "exports"
    exports.mkdir()
    for fmt in ("csv", "json", "md", "html", "junit", "parquet"):
        report.export(fmt, exports / f"report.{fmt}")
        clean((exports / f"report.{fmt}").read_bytes(), f"the {fmt} report")
    # Parquet is compressed: look at what it holds, too.
    clean(pd.read_parquet(exports / "report.parquet").to_string(), "the parquet report")
    assert MASK in (exports / "report.json").read_text()
    clean(report.errors.to_string() + report.events.to_string(), "the report tables")
    assert main(["status", "--state-dir", str(state)]) == 0
    assert main(["status", "--state-dir", str(state), "--json"]) == 0
    assert main(["config", "show", str(tasks), "--json"]) == 0
    assert main(["config", "show", str(tasks)]) == 0
    captured = capsys.readouterr()
    clean(captured.out + captured.err, "the CLI")
    assert MASK in captured.out


def test_secret_names_and_values() -> None:
    assert is_secret_name("GITHUB_TOKEN") and is_secret_name("aws_secret_access_key")
    assert is_secret_name("DB_PASSWORD") and is_secret_name("API_KEY")
    assert is_secret_name("HOST", ["HOST"]) and not is_secret_name("HOST")
    env = {
        "API_KEY": "abcdef",
        "USE_KEYRING": "1",
        "KEY_ENABLED": "true",
        "TOKEN_TTL": "3600",
        "HOST": "h",
        "MARKED": "x",
        "EMPTY_TOKEN": "",
        "DB_PASSWORD": "hunter22",
        "DATABASE_URL": "postgres://u:hunter22@h/db",
    }
    # Flags and small numbers in secret-named variables are not secrets; marked ones are.
    assert secret_values(env, ["MARKED"]) == {"abcdef", "x", "hunter22"}
    assert mask_env(env, ["MARKED"]) == {
        "API_KEY": MASK,
        "USE_KEYRING": "1",
        "KEY_ENABLED": "true",
        "TOKEN_TTL": "3600",
        "HOST": "h",
        "MARKED": MASK,
        "EMPTY_TOKEN": "",
        "DB_PASSWORD": MASK,
        "DATABASE_URL": f"postgres://u:{MASK}@h/db",  # a secret inside another value
    }
    masker = Masker(["abc", "abcdef"])
    assert masker.text("xabcdefx abc") == f"x{MASK}x {MASK}"
    assert masker.data(b"abcdef") == MASK.encode() and masker.optional(None) is None
    assert Masker(["abcd", "cdef"]).text("abcdef") == MASK  # overlapping: no piece shows
    assert not Masker() and Masker().text("abc") == "abc"
    settings = RunSettings(env={"MY_TOKEN": "value-123", "URL": "x://value-123@h"})
    assert settings.to_dict()["env"] == {"MY_TOKEN": MASK, "URL": f"x://{MASK}@h"}
    assert settings.to_dict(masked=False)["env"]["MY_TOKEN"] == "value-123"


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(
            [b"hunter22", b"s3cr3t-t0ken", b"hunt", b"s3c", b"x", b"\n", b"ab ", b"t0ken-x", b"-"]
        ),
        max_size=30,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_a_stream_is_masked_wherever_the_chunks_are_cut(
    parts: list[bytes], cuts: list[int]
) -> None:
    # Nested ("hunter22" in a longer one) and overlapping ("t0ken" in two) secrets.
    masker = Masker(["hunter22", "s3cr3t-t0ken", "url://hunter22@h", "t0ken-x"])
    data = b"".join(parts)
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    stream = masker.stream()
    out = b"".join(stream.feed(c) for c in chunks) + stream.close()
    assert out == masker.data(data)
    assert not any(secret in out for secret in masker.encoded)
    assert Masker().stream().feed(b"abc") == b"abc"


def test_config_errors_are_usage_errors() -> None:
    assert issubclass(ConfigError, taskexec_nb.UsageError)


def test_the_readme_example_config_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("```toml\n# taskexec.toml\n", 1)[1].split("```", 1)[0]
    tasks = project(tmp_path, tasks=TASKS)
    (tmp_path / "taskexec.toml").write_text(example)
    (tmp_path / ".env").write_text("API_TOKEN=from-dotenv\n")
    local = resolve(tasks, environ={})
    ci = resolve(tasks, environ={"TASKEXEC_PROFILE": "ci"})
    assert local.profile == "local" and local.settings.max_workers == 8
    assert ci.profile == "ci" and ci.settings.max_workers == 2 and ci.settings.fail_fast
    assert ci.only == ("US1", "US2") and not ci.settings.writeback
    assert len(ci.overrides) == 3


def test_a_secret_printed_by_a_notebook_is_masked_in_the_executed_copy(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("import os\nprint(os.environ['API_TOKEN'])")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Run the notebook
          - taskexec: notebook=probe.ipynb
        """
    )
    tasks = project(tmp_path, f'writeback = false\n[env]\nAPI_TOKEN = "{TOKEN}"\n', tasks=text)
    nbformat.write(nb, str(tasks.parent / "probe.ipynb"))
    handle = taskexec_nb.load(tasks).run()
    assert handle.result.value == "completed", handle.status().to_dict("records")
    executed = (handle.log_dir / "T001.attempt1.ipynb").read_text()
    assert TOKEN not in executed and MASK in executed


def test_review_findings_on_configuration(tmp_path: Path) -> None:
    """Cases a review found: each once wrong, each now a clear behaviour."""
    tasks = project(
        tmp_path,
        """\
        secrets = ["DEPLOY_HOST"]

        [env]
        DEPLOY_HOST = "prod-db.internal.example"

        [profiles.ci]
        secrets = ["CI_ONLY"]

        [[overrides]]
        tasks = "T001"
        cwd = "tools"
        """,
    )
    ci = resolve(tasks, profile="ci", environ={"TASKEXEC_SECRETS": "OTHER"})
    # A narrower layer adds secrets; it never un-marks the file's.
    assert ci.settings.secrets == ("DEPLOY_HOST", "CI_ONLY", "OTHER")
    # An override's cwd is relative to the config file, like the top-level one.
    assert ci.overrides[0].values["cwd"] == str(tmp_path / "tools")

    def error(toml: str) -> str:
        (tmp_path / "taskexec.toml").write_text(md(toml))
        with pytest.raises(ConfigError) as caught:
            resolve(tasks, environ={})
        return str(caught.value)

    assert "retries: must be a number, not true or false (got true)" in error("retries = true\n")
    assert "timeout: must be a number" in error("timeout = true\n")
    assert "overrides[0].needs.gpu: must be > 0 (got -5)" in error(
        '[[overrides]]\ntasks = "T001"\nneeds = {gpu = -5}\n'
    )
    assert "taskexec.toml:2: resources.gpu: must be > 0 (got 0)" in error(
        "retries = 1\nresources = {gpu = 0}\n"
    )
    # Keys named like pydantic's type tags are still the user's keys.
    message = error('retries = 1\nstr = "oops"\n[profiles.ci]\nint = 3\n')
    assert "taskexec.toml:2: unknown key 'str'" in message
    assert "taskexec.toml:4: unknown key 'profiles.ci.int'" in message
    assert "overrides[0].story: an empty list selects nothing" in error(
        "[[overrides]]\nstory = []\nretries = 1\n"
    )
    (tmp_path / "taskexec.toml").write_text("")
    warned = resolve(tasks, environ={"TASKEXEC_RESOURCES": '{"gpu": 1}'}).warnings
    assert warned == (
        "environment variable TASKEXEC_RESOURCES is ignored: resources is a table; set it in "
        "the config file or with an argument",
    )


def test_an_override_that_matches_no_task_is_reported(tmp_path: Path) -> None:
    text = TASKS.replace("- [ ] T002 [US1] Second\n", "")
    tasks = project(tmp_path, '[[overrides]]\nstory = "US9"\nretries = 2\n', tasks=text)
    handle = taskexec_nb.load(tasks).run(writeback=False, no_action="skip")
    assert any("matches no task" in n and "taskexec.toml:1" in n for n in handle.notices), (
        handle.notices
    )


def test_durations_with_units_work_as_run_keywords_too(tmp_path: Path) -> None:
    tasks = project(tmp_path)
    plan = taskexec_nb.load(tasks)
    overrides = {"timeout": "5m", "backoff": "1s", "kill_grace": "250ms"}
    handle = start_run(RunRequest(plan, overrides=overrides, start="none"))
    assert (handle.settings.timeout, handle.settings.backoff) == (300.0, 1.0)
    assert handle.settings.kill_grace == 0.25
    assert RunSettings(timeout="1h30m").timeout == 5400.0
    with pytest.raises(UsageError, match=r"timeout: 'soon' is not a duration \(write seconds"):
        RunSettings(timeout="soon")
    with pytest.raises(UsageError, match="timeout must be > 0 seconds"):
        RunSettings(timeout="0s")


def test_a_misspelt_variable_is_a_python_warning_and_a_notice_through_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = project(tmp_path)
    monkeypatch.setenv("TASKEXEC_MAX_WORKER", "2")
    plan = taskexec_nb.load(tasks)
    with pytest.warns(UserWarning, match="did you mean TASKEXEC_MAX_WORKERS") as caught:
        handle = plan.run(writeback=False, no_action="skip")
    assert caught[0].filename == __file__  # shown at the caller's line
    assert any("TASKEXEC_MAX_WORKER is not a setting" in n for n in handle.notices)


def test_resolve_task_applies_overrides_then_the_annotation_then_the_run_settings(
    tmp_path: Path,
) -> None:
    from taskexec_nb.config import resolve_task

    text = md(
        """\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Overridden
        - [ ] T002 Overridden and annotated
          - taskexec: retries=6 allow_failure=false
        - [ ] T003 Plain
        """
    )
    tasks = project(
        tmp_path,
        '[[overrides]]\ntasks = "T00[12]"\nretries = 5\ntimeout = "1m"\nallow_failure = true\n',
        tasks=text,
    )
    config = resolve(tasks, environ={}, arguments={"backoff": 2, "retries": 1})
    plan = taskexec_nb.load(tasks)
    t1, t2, t3 = (resolve_task(plan[t], config.settings) for t in ("T001", "T002", "T003"))
    assert (t1.retries, t1.timeout, t1.backoff, t1.allow_failure) == (5, 60.0, 2, True)
    assert (t2.retries, t2.timeout, t2.allow_failure) == (6, 60.0, False)
    assert (t3.retries, t3.timeout, t3.allow_failure) == (1, None, False)
    assert t3.task is plan["T003"]  # nothing matched: the task itself
    assert t1.task.params.retries == 5 and plan["T001"].params.retries is None


def test_exit_codes_are_defined_once() -> None:
    from taskexec_nb import cli, exitcodes
    from taskexec_nb.cli import config, plan, report, run, runs, status, validate

    for module in (cli, config, plan, report, run, runs, status, validate):
        for name in dir(module):
            if name.startswith("EXIT_"):
                assert getattr(module, name) is getattr(exitcodes, name), (module, name)
    assert (exitcodes.EXIT_OK, exitcodes.EXIT_USAGE, exitcodes.EXIT_INCOMPLETE) == (0, 2, 3)


def test_the_readme_lists_every_key_a_config_file_takes() -> None:
    from taskexec_nb.config.checks import ENTRY_SETTINGS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    keys = readme.split("\nKeys: ", 1)[1].split(". An `[[overrides]]` entry takes", 1)
    listed = set(keys[0].replace("`", "").replace("\n", " ").replace(",", " ").split())
    assert listed == set(SETTINGS)
    entry = keys[1].split(". Durations", 1)[0]
    named = {w.strip("`,") for w in entry.split() if w.startswith("`")}
    assert named == set(ENTRY_SETTINGS)


# --- the CLI flags, derived from the settings -----------------------------------------------------


def test_every_flagged_setting_has_its_option_and_its_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.config.flags import FLAGGED
    from taskexec_nb.config.flags import FLAGS as _FLAGS

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


# --- bad configurations: every error names the file, the line, the key and a hint -----------------

ONE_TASK = "# Tasks\n\n## Phase 1: Setup\n\n- [ ] T001 Do it\n"


def project_with(root: Path, files: dict[str, str]) -> Path:
    """A project (a git root) with tasks.md and ``files``; returns the tasks.md."""
    (root / ".git").mkdir(exist_ok=True)
    tasks = root / "tasks.md"
    tasks.write_text(ONE_TASK, encoding="utf-8")
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return tasks


def line(text: str, needle: str, nth: int = 0) -> int:
    """1-based number of the ``nth`` line of ``text`` that contains ``needle``."""
    hits = [i for i, row in enumerate(text.splitlines(), 1) if needle in row]
    assert len(hits) > nth, f"{needle!r} is not in the text"
    return hits[nth]


def config_error(tasks: Path, environ: dict[str, str] | None = None, **kwargs: Any) -> str:
    """The message of the ConfigError that resolving ``tasks`` raises."""
    with pytest.raises(ConfigError) as info:
        resolve(tasks, environ={} if environ is None else environ, **kwargs)
    return str(info.value)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp_path`` with symlinks resolved, as the paths in messages are."""
    return tmp_path.resolve()


def test_unknown_top_level_key_names_file_line_and_suggests(root: Path) -> None:
    toml = "# settings for the runner\nretries = 1\nmax_worker = 2\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert msg.startswith(f"invalid configuration in {cfg}:\n")
    n = line(toml, "max_worker =")
    assert f"{cfg}:{n}: unknown key 'max_worker' (did you mean 'max_workers'?)" in msg


def test_unknown_key_in_a_profile_has_its_key_path_and_line(root: Path) -> None:
    toml = "max_workers = 2\n\n[profiles.ci]\nretries = 0\nretrys = 1\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    n = line(toml, "retrys")
    assert f"{cfg}:{n}: unknown key 'profiles.ci.retrys' (did you mean 'retries'?)" in msg


def test_unknown_key_in_an_overrides_entry_names_the_entry(root: Path) -> None:
    toml = (
        "max_workers = 2\n\n"
        "[[overrides]]\nphase = 1\ntimeout = 5\n\n"
        "[[overrides]]\ntasks = 'T001'\ntimout = 3\n"
    )
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    n = line(toml, "timout")
    # The second [[overrides]] entry: index 1, as in the parsed TOML array.
    assert f"{cfg}:{n}: unknown key 'overrides[1].timout' (did you mean 'timeout'?)" in msg


def test_wrong_type_names_file_line_key_and_the_value(root: Path) -> None:
    toml = 'retries = 1\nmax_workers = "four"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    n = line(toml, "max_workers")
    assert f"{cfg}:{n}: max_workers: input should be a valid integer" in msg
    assert "(got 'four')" in msg


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("retries = -1", "retries: must be >= 0 (got -1)"),
        (
            'no_action = "maybe"',
            "no_action: must be one of 'agent', 'skip' or 'fail' (got 'maybe')",
        ),
        ("timeout = 0", "timeout: must be > 0 (got 0)"),
    ],
    ids=["retries-negative", "no_action-not-allowed", "timeout-zero"],
)
def test_bad_value_names_file_line_key_and_what_is_allowed(
    root: Path, setting: str, expected: str
) -> None:
    toml = f"# runner settings\nmax_workers = 2\n\n{setting}\nshell = 'bash'\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert f"{cfg}:{line(toml, setting)}: {expected}" in msg


def test_wrong_type_in_pyproject_uses_the_tool_key_path_and_its_line(root: Path) -> None:
    pyproject = (
        '[project]\nname = "demo"\nversion = "0.1"\n\n'
        '[tool.taskexec]\nretries = 1\nmax_workers = "four"\n'
    )
    tasks = project_with(root, {"pyproject.toml": pyproject})
    msg = config_error(tasks)
    cfg = root / "pyproject.toml"
    assert msg.startswith(f"invalid configuration in {cfg}:\n")
    n = line(pyproject, "max_workers")
    assert f"{cfg}:{n}: tool.taskexec.max_workers: input should be a valid integer" in msg
    assert "(got 'four')" in msg


def test_unknown_profile_key_in_pyproject_uses_the_full_key_path(root: Path) -> None:
    pyproject = (
        '[project]\nname = "demo"\n\n'
        "[tool.taskexec]\nmax_workers = 2\n\n"
        "[tool.taskexec.profiles.ci]\nretrys = 1\n"
    )
    tasks = project_with(root, {"pyproject.toml": pyproject})
    msg = config_error(tasks)
    cfg = root / "pyproject.toml"
    n = line(pyproject, "retrys")
    assert (
        f"{cfg}:{n}: unknown key 'tool.taskexec.profiles.ci.retrys' (did you mean 'retries'?)"
        in msg
    )


def test_invalid_toml_names_file_and_line(root: Path) -> None:
    toml = "max_workers = 2\nretries = 1\ntimeout = \n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert msg.startswith(f"{cfg}:{line(toml, 'timeout')}: not valid TOML: ")


def test_invalid_toml_in_pyproject_names_file_and_line(root: Path) -> None:
    pyproject = '[project]\nname = "demo"\n\n[tool.taskexec\nretries = 1\n'
    tasks = project_with(root, {"pyproject.toml": pyproject})
    msg = config_error(tasks)
    cfg = root / "pyproject.toml"
    assert msg.startswith(f"{cfg}:{line(pyproject, '[tool.taskexec')}: not valid TOML: ")


PROFILES = "[profiles.ci]\nretries = 1\n\n[profiles.nightly]\nretries = 3\n"


def test_missing_profile_chosen_by_argument_lists_profiles_and_suggests(root: Path) -> None:
    tasks = project_with(root, {"taskexec.toml": PROFILES})
    # The argument wins over the variable, so the message must not blame the variable.
    msg = config_error(tasks, environ={"TASKEXEC_PROFILE": "ci"}, profile="nightli")
    cfg = root / "taskexec.toml"
    assert msg == (
        f"profile 'nightli' is not defined in {cfg} (profiles: ci, nightly); "
        "did you mean 'nightly'?"
    )


def test_missing_profile_chosen_by_variable_says_it_came_from_the_variable(root: Path) -> None:
    tasks = project_with(root, {"taskexec.toml": PROFILES})
    msg = config_error(tasks, environ={"TASKEXEC_PROFILE": "staging"})
    cfg = root / "taskexec.toml"
    assert msg == (
        f"profile 'staging' (from TASKEXEC_PROFILE) is not defined in {cfg} (profiles: ci, nightly)"
    )


def test_missing_profile_without_any_config_file(root: Path) -> None:
    tasks = project_with(root, {})
    msg = config_error(tasks, profile="ci")
    assert msg.startswith("profile 'ci' was asked for, but there is no config file")
    assert f"from {tasks.parent} up to the project root" in msg


def test_missing_default_profile_names_the_default_profile_key_and_line(root: Path) -> None:
    toml = 'max_workers = 2\ndefault_profile = "nightli"\n\n' + PROFILES
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert "profile 'nightli'" in msg
    assert "(profiles: ci, nightly)" in msg
    # Where the name came from, as for TASKEXEC_PROFILE: the key and its line.
    assert f"{cfg}:{line(toml, 'default_profile')}: default_profile: " in msg


def test_profile_extending_a_missing_profile_names_the_extends_line(root: Path) -> None:
    toml = "[profiles.ci]\nretries = 1\n\n[profiles.nightly]\nretries = 3\nextends = 'cii'\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks, profile="nightly")
    cfg = root / "taskexec.toml"
    assert msg == (
        f"{cfg}:{line(toml, 'extends')}: profiles.nightly.extends: profile 'nightly' extends "
        f"'cii', which is not defined in {cfg} (profiles: ci, nightly); did you mean 'ci'?"
    )


def test_profiles_extending_each_other_in_a_cycle_show_the_cycle(root: Path) -> None:
    toml = (
        "max_workers = 2\n\n"
        "[profiles.a]\nextends = 'b'\n\n"
        "[profiles.b]\nextends = 'c'\n\n"
        "[profiles.c]\nextends = 'a'\n"
    )
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks, profile="a")
    cfg = root / "taskexec.toml"
    assert msg == (
        f"{cfg}:{line(toml, '[profiles.a]')}: profiles extend each other in a cycle: "
        "a -> b -> c -> a"
    )


def test_missing_env_file_names_file_line_key_and_the_path_looked_for(root: Path) -> None:
    toml = 'max_workers = 2\nenv_file = ".env.missing"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert msg == (
        f"{cfg}:{line(toml, 'env_file')}: env_file: dotenv file '.env.missing' does not exist "
        f"(looked for {root / '.env.missing'})"
    )


def test_missing_env_file_in_a_list_names_only_the_missing_one(root: Path) -> None:
    toml = 'max_workers = 2\nenv_file = [".env", ".env.local"]\n'
    tasks = project_with(root, {"taskexec.toml": toml, ".env": "A=1\n"})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert msg == (
        f"{cfg}:{line(toml, 'env_file')}: env_file: dotenv file '.env.local' does not exist "
        f"(looked for {root / '.env.local'})"
    )


def test_missing_env_file_in_a_profile_has_the_profile_key_path(root: Path) -> None:
    toml = "max_workers = 2\n\n[profiles.ci]\nretries = 1\nenv_file = '.env.ci'\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks, profile="ci")
    cfg = root / "taskexec.toml"
    assert msg == (
        f"{cfg}:{line(toml, 'env_file')}: profiles.ci.env_file: dotenv file '.env.ci' "
        f"does not exist (looked for {root / '.env.ci'})"
    )


def test_a_profile_env_file_is_only_needed_when_the_profile_is_used(root: Path) -> None:
    toml = "max_workers = 2\n\n[profiles.ci]\nenv_file = '.env.ci'\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    assert resolve(tasks, environ={}).settings.max_workers == 2
    assert ".env.ci" in config_error(tasks, profile="ci")


def test_bad_integer_variable_names_the_variable_and_the_value(root: Path) -> None:
    tasks = project_with(root, {})
    msg = config_error(tasks, environ={"TASKEXEC_MAX_WORKERS": "abc"})
    assert msg.startswith("environment variable TASKEXEC_MAX_WORKERS: ")
    assert "valid integer" in msg
    assert "(got 'abc')" in msg


def test_bad_boolean_variable_names_the_variable_and_what_is_expected(root: Path) -> None:
    tasks = project_with(root, {})
    msg = config_error(tasks, environ={"TASKEXEC_FAIL_FAST": "perhaps"})
    assert msg == "environment variable TASKEXEC_FAIL_FAST: expected true or false, got 'perhaps'"


def test_misspelt_variable_is_a_warning_with_a_suggestion_not_an_error(root: Path) -> None:
    tasks = project_with(root, {})
    config = resolve(tasks, environ={"TASKEXEC_MAX_WORKER": "7", "TASKEXEC_RUN_ID": "x"})
    assert config.warnings == (
        "environment variable TASKEXEC_MAX_WORKER is not a setting; "
        "did you mean TASKEXEC_MAX_WORKERS?",
    )
    # Not applied under the setting it resembles.
    assert config.settings.max_workers != 7
    assert "max_workers" not in config.sources


def test_overrides_entry_without_a_selector_names_the_entry_line(root: Path) -> None:
    toml = (
        "max_workers = 2\n\n[[overrides]]\nphase = 1\ntimeout = 5\n\n[[overrides]]\ntimeout = 10\n"
    )
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    n = line(toml, "[[overrides]]", nth=1)
    assert msg == f"{cfg}:{n}: overrides[1]: say which tasks it is for (phase, story or tasks)"


def test_unknown_executor_option_suggests_and_points_at_the_option(root: Path) -> None:
    toml = 'max_workers = 2\n\n[executors.notebook]\nkernal = "python3"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert "unknown option 'kernal' (did you mean 'kernel'?)" in msg
    assert "the notebook executor takes: kernel" in msg
    # Like every other unknown key: the line of the key itself, not its table's header.
    assert msg.startswith(f"{cfg}:{line(toml, 'kernal')}: ")


def test_unknown_executor_option_in_a_profile_has_the_profile_key_path(root: Path) -> None:
    toml = 'max_workers = 2\n\n[profiles.ci.executors.notebook]\nkernal = "python3"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks, profile="ci")
    cfg = root / "taskexec.toml"
    assert "unknown option 'kernal' (did you mean 'kernel'?)" in msg
    # The key path as written in the file, as for every other key in a profile ...
    assert ": profiles.ci.executors.notebook.kernal: " in msg
    # ... and the line of the option itself.
    assert re.match(rf"{re.escape(str(cfg))}:{line(toml, 'kernal')}\b", msg), msg


def test_unknown_executor_table_suggests_and_points_at_its_header(root: Path) -> None:
    toml = 'max_workers = 2\n\n[executors.notbook]\nkernel = "python3"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    cfg = root / "taskexec.toml"
    assert msg.startswith(f"{cfg}:{line(toml, '[executors.notbook]')}: executors.notbook: ")
    assert "unknown executor 'notbook' (did you mean 'notebook'?)" in msg
    assert "the executors here are: shell, python, notebook, agent, callable" in msg
    # From Python, the same check names the argument.
    (root / "taskexec.toml").write_text("max_workers = 2\n")
    msg = config_error(tasks, arguments={"executors": {"Shell": {}}})
    assert "argument executors: executors.Shell: unknown executor 'Shell'" in msg
    assert "(did you mean 'shell'?)" in msg


@pytest.mark.parametrize("value", ["3", '""', "true"])
def test_executor_option_of_the_wrong_type_names_the_option(root: Path, value: str) -> None:
    toml = f"[executors.notebook]\nkernel = {value}\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    assert msg.startswith(f"{root / 'taskexec.toml'}:2: executors.notebook.kernel: ")
    assert "must be a non-empty string (a name or a path)" in msg


def test_an_installed_plugin_executor_may_have_a_table(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real (if tiny) installed distribution whose entry point adds an executor.
    info = root / "site" / "taskexec_plugin_demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: taskexec-plugin-demo\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[taskexec_nb.executors]\nremote = demo:Remote\n")
    monkeypatch.syspath_prepend(str(root / "site"))
    toml = '[executors.remote]\nhost = "build-01"\nslots = 4\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    config = resolve(tasks, environ={})
    assert config.settings.executors["remote"] == {"host": "build-01", "slots": 4}
    # A near miss of the plugin's name is suggested like a built-in's.
    (root / "taskexec.toml").write_text("[executors.remot]\n")
    assert "(did you mean 'remote'?)" in config_error(tasks)


def test_unknown_argument_name_suggests_the_setting(root: Path) -> None:
    tasks = project_with(root, {})
    msg = config_error(tasks, arguments={"max_wrkers": 2})
    assert msg == "unknown setting(s): 'max_wrkers' (did you mean 'max_workers'?)"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, root: Path) -> pytest.MonkeyPatch:
    """No TASKEXEC_* variable from the outside; the current folder is the project."""
    for var in list(os.environ):
        if var.startswith("TASKEXEC_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(root)
    return monkeypatch


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "run": lambda tasks: ["run", str(tasks)],
    "validate": lambda tasks: ["validate", str(tasks)],
    "config-show": lambda tasks: ["config", "show", str(tasks)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_bad_config_file_exits_2_and_changes_nothing(
    root: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    toml = "# runner\nmax_worker = 2\n"
    tasks = project_with(root, {"taskexec.toml": toml})
    before = tasks.read_bytes()
    assert main(COMMANDS[command](tasks)) == 2
    out, err = capsys.readouterr()
    cfg = root / "taskexec.toml"
    assert err.startswith(f"taskexec: error: invalid configuration in {cfg}:\n")
    assert f"{cfg}:2: unknown key 'max_worker' (did you mean 'max_workers'?)" in err
    assert out == ""
    assert tasks.read_bytes() == before
    assert not list(root.rglob(".taskexec"))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_bad_variable_exits_2_and_names_it(
    root: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    tasks = project_with(root, {"taskexec.toml": PROFILES})
    before = tasks.read_bytes()
    clean_env.setenv("TASKEXEC_PROFILE", "staging")
    assert main(COMMANDS[command](tasks)) == 2
    out, err = capsys.readouterr()
    cfg = root / "taskexec.toml"
    assert err == (
        f"taskexec: error: profile 'staging' (from TASKEXEC_PROFILE) is not defined in {cfg} "
        "(profiles: ci, nightly)\n"
    )
    assert out == ""
    assert tasks.read_bytes() == before
    assert not list(root.rglob(".taskexec"))


def test_agent_command_placeholders_are_checked_before_the_run(root: Path) -> None:
    toml = 'retries = 1\nagent_command = ["my-agent", "--task", "{task_id}", "{prompt}"]\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    assert msg.startswith(f"{root / 'taskexec.toml'}:2")
    assert "unknown placeholder {task_id} in '{task_id}'" in msg
    assert "known: {id}, {description}" in msg
    env = {"TASKEXEC_AGENT_COMMAND": "my-agent {prompt"}
    msg = config_error(project_with(root, {"taskexec.toml": "retries = 1\n"}), environ=env)
    assert msg.startswith("environment TASKEXEC_AGENT_COMMAND: ")
    assert "bad template element '{prompt'" in msg and "{{ and }}" in msg
    # Literal braces written doubled are fine, as are all the known fields.
    good = "my-agent --json {{}} {id} {description} {files} {phase} {story} {tasks_file} {prompt}"
    assert resolve(tasks, environ={"TASKEXEC_AGENT_COMMAND": good}, config_file=None)


def test_durations_take_units_everywhere_and_bad_ones_are_named(root: Path) -> None:
    toml = 'timeout = "5m"\nbackoff = "250ms"\n\n[[overrides]]\ntasks = "T001"\ntimeout = "1h30m"\n'
    tasks = project_with(root, {"taskexec.toml": toml})
    config = resolve(tasks, environ={"TASKEXEC_KILL_GRACE": "2s"})
    assert config.settings.timeout == 300.0 and config.settings.backoff == 0.25
    assert config.settings.kill_grace == 2.0
    assert config.overrides[0].values["timeout"] == 5400.0
    msg = config_error(tasks, environ={"TASKEXEC_TIMEOUT": "soon"})
    assert "environment variable TASKEXEC_TIMEOUT" in msg and "'soon' is not a duration" in msg
    project_with(root, {"taskexec.toml": 'retries = 1\ntimeout = "5x"\n'})
    msg = config_error(tasks)
    assert f"{root / 'taskexec.toml'}:2: timeout: '5x' is not a duration" in msg
    project_with(root, {"taskexec.toml": "timeout = 0\n"})
    assert "timeout" in config_error(tasks)  # still above 0


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("profiles = 3\n", "profiles: input should be a valid dictionary (got 3)"),
        ("[profiles]\nci = 3\n", "profiles.ci: input should be a valid dictionary (got 3)"),
        ("overrides = 'T001'\n", "overrides: input should be a valid list (got 'T001')"),
        ("overrides = [3]\n", "overrides[0]: input should be a valid dictionary (got 3)"),
        ("default_profile = 3\n", "default_profile: input should be a valid string (got 3)"),
        ("[profiles.ci]\nextends = 3\n", "profiles.ci.extends: input should be a valid string"),
    ],
)
def test_a_table_of_the_wrong_shape_names_its_key(root: Path, toml: str, expected: str) -> None:
    tasks = project_with(root, {"taskexec.toml": toml})
    msg = config_error(tasks)
    assert f"{root / 'taskexec.toml'}:" in msg and expected in msg


def test_arguments_given_as_paths_and_tuples_are_checked_as_written(root: Path) -> None:
    tasks = project_with(root, {})
    config = resolve(
        tasks, environ={}, arguments={"state_dir": root / "state", "agent_command": ("a", "b")}
    )
    assert config.settings.state_dir == root / "state"
    assert config.settings.agent_command == ("a", "b")
    msg = config_error(tasks, arguments={"agent_command": ("a", 3)})
    assert msg == "argument agent_command: agent_command.1: input should be a valid string (got 3)"


def test_reading_no_config_file_compiles_no_pattern() -> None:
    # validate and run look for a config file every time; most projects have none.
    assert compiled_on_import("taskexec_nb.config.files", ("taskexec_nb.errors",)) == []
