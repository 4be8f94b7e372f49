"""Bad configurations: every error names the file, the line, the key and a hint.

Each test writes real files (a ``.git`` folder stops the upward search at
``tmp_path``) and checks the parts of the message a user needs to fix the problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskexec_nb.cli import main
from taskexec_nb.config import ConfigError, resolve

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


# --- unknown keys ----------------------------------------------------------------------------


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


# --- wrong types and values ------------------------------------------------------------------


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


# --- not TOML --------------------------------------------------------------------------------


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


# --- profiles --------------------------------------------------------------------------------

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


# --- dotenv files ----------------------------------------------------------------------------


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


# --- environment variables -------------------------------------------------------------------


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


# --- overrides, executors, arguments ---------------------------------------------------------


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


# --- the CLI end to end ----------------------------------------------------------------------


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


# --- agent_command templates -----------------------------------------------------------------


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


# --- durations -------------------------------------------------------------------------------


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
