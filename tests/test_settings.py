"""Run settings: the agent command's forms and what is refused in them."""

from __future__ import annotations

import pytest

from taskexec_nb.agentcmd import agent_command_form, agent_template_problems, shell_script
from taskexec_nb.errors import UsageError
from taskexec_nb.settings import RunSettings


@pytest.mark.parametrize(
    ("template", "where"),
    [
        (["bash", "-c", "a {description}"], (2, "bash", "-c")),
        (["/bin/sh", "-c", "a"], (2, "sh", "-c")),
        (["dash", "-ec", "a", "zero", "{id}"], (2, "dash", "-ec")),
        (["zsh", "-lc", "a"], (2, "zsh", "-lc")),
        (["ksh93", "-c", "a"], (2, "ksh93", "-c")),
        (["bash5", "-c", "a"], (2, "bash5", "-c")),
        (["env", "bash", "-c", "a"], (3, "bash", "-c")),
        (["/usr/bin/env", "-i", "PATH=/bin", "sh", "-c", "a"], (5, "sh", "-c")),
        (["env", "-u", "HOME", "--", "bash", "-c", "a"], (6, "bash", "-c")),
        (["bash", "--noprofile", "--rcfile", "x", "-o", "pipefail", "-c", "a"], (7, "bash", "-c")),
        (["bash", "-c", "-e", "a"], (3, "bash", "-c")),
        (["bash", "-c", "--", "a"], (3, "bash", "-c")),
        # Behind wrappers that run the rest of the argv.
        (["timeout", "600", "bash", "-c", "a"], (4, "bash", "-c")),
        (["nice", "-n", "5", "sh", "-c", "a"], (5, "sh", "-c")),
        (["sudo", "-u", "agent", "bash", "-lc", "a"], (5, "bash", "-lc")),
        (["docker", "exec", "-i", "box", "sh", "-c", "a"], (6, "sh", "-c")),
        (["./with-venv.sh", "zsh", "-c", "a"], (3, "zsh", "-c")),
        (["runuser", "-u", "agent", "--", "sh", "-c", "a"], (6, "sh", "-c")),
        (["flock", "/tmp/lock", "bash", "-c", "a"], (4, "bash", "-c")),
        # Programs whose -c/--command value a shell runs.
        (["script", "-qc", "a", "/dev/null"], (2, "script", "-qc")),
        (["su", "agent", "-c", "a"], (3, "su", "-c")),
        (["runuser", "-l", "agent", "--command=a"], (3, "runuser", "--command")),
        (["flock", "-w", "5", "/tmp/lock", "-c", "a"], (5, "flock", "-c")),
        (["vagrant", "ssh", "-c", "a"], (3, "vagrant", "-c")),
        (["gcloud", "compute", "ssh", "vm", "--command", "a"], (5, "gcloud", "--command")),
        (["nix-shell", "--pure", "--run", "a"], (3, "nix-shell", "--run")),
        (["nix-shell", "--command=a"], (1, "nix-shell", "--command")),
    ],
)
def test_a_shell_with_a_c_script_is_recognised(
    template: list[str], where: tuple[int, str, str]
) -> None:
    found = shell_script(template)
    assert found is not None
    assert (found.index, found.shell, found.flag) == where
    assert agent_command_form(template) == (
        f"shell script via {where[1]} {where[2]}; placeholders are shell-quoted"
    )


@pytest.mark.parametrize(
    "template",
    [
        ["my-agent", "--prompt", "{prompt}"],
        ["bash", "script.sh", "{description}"],  # a script file: its arguments are argv
        ["bash", "-c"],  # no script
        ["python", "-c", "print(1)"],  # not a shell
        ["fish", "-c", "a"],
        ["bashful", "-c", "a"],
        ["bash", "+c", "a"],
        ["env", "my-agent", "-c", "a"],
        ["flock", "/tmp/lock", "my-agent", "-c", "a"],  # my-agent's -c, not flock's
        ["runuser", "-u", "agent", "--", "my-agent", "-c", "a"],
        ["ssh", "box"],  # an interactive login: no command
        ["nix-shell", "-c", "a"],  # not an option of nix-shell's that runs a script
        ["nix-shell", "-p", "nodejs"],  # an interactive shell: no script
        ["my-agent", "--transport", "ssh", "{prompt}"],
    ],
)
def test_other_commands_are_plain_argv(template: list[str]) -> None:
    assert shell_script(template) is None
    assert agent_command_form(template) == "argv (no shell)"


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("my-agent '{description}'", "inside single quotes"),
        ('my-agent "{description}"', "inside double quotes"),
        ("my-agent `echo {description}`", "inside backticks"),
        ("my-agent \\{description}", "after a backslash"),
        ("my-agent ${description}", "after $"),
        ("my-agent x # {description}", "in a comment"),
        ("cat <<EOF\n{description}\nEOF", "in a here-document"),
        ("my-agent --n $(( {description} + 1 ))", "in an arithmetic expression (( ))"),
        ("(( {description} > 2 )) && my-agent", "in an arithmetic expression (( ))"),
    ],
)
def test_a_placeholder_that_would_not_stay_one_word_is_refused(script: str, why: str) -> None:
    problems = agent_template_problems(["bash", "-c", script])
    assert len(problems) == 1
    assert f"{{description}} is {why} in the bash -c script" in problems[0]
    with pytest.raises(UsageError, match="write it as a bare word"):
        RunSettings(agent_command=["bash", "-c", script])


@pytest.mark.parametrize(
    "script",
    [
        "my-agent {description}",
        "my-agent --task={description} 'literal' \"$HOME\" && echo done",
        "my-agent 'it''s' \\' {id} # comment after",
        "cd /tmp; my-agent {prompt}",
        "n=$(( 1 + 2 )); (cd src && my-agent {prompt}); ((n++)) || my-agent {id}",
    ],
)
def test_bare_placeholders_in_a_script_are_fine(script: str) -> None:
    assert agent_template_problems(["bash", "-c", script]) == []


def test_placeholders_outside_the_script_are_not_checked_for_quotes() -> None:
    # $0 and $1 are argv: quotes there are the agent's own business.
    assert agent_template_problems(["bash", "-c", "a", "'{description}'"]) == []
    assert agent_template_problems(["my-agent", '"{description}"']) == []


def test_ssh_runs_every_word_after_the_host_in_the_remote_shell() -> None:
    template = ["ssh", "-p", "22", "-i", "key", "-tt", "box", "cd repo &&", "my-agent", "{id}"]
    found = shell_script(template)
    assert found is not None
    assert (found.index, found.count, found.shell) == (7, 3, "ssh")
    assert [found.covers(i) for i in (6, 7, 9, 10)] == [False, True, True, False]
    after_dashes = shell_script(["ssh", "-oBatchMode=yes", "--", "box", "my-agent", "{id}"])
    assert after_dashes is not None and (after_dashes.index, after_dashes.count) == (4, 2)
    assert agent_command_form(template) == (
        "shell script via ssh (remote shell); placeholders are shell-quoted"
    )
    # Quotes opened in one word and closed in another are one script.
    problems = agent_template_problems(["ssh", "box", "my-agent '", "{description}", "'"])
    assert len(problems) == 1
    assert "{description} is inside single quotes in the ssh (remote shell) script" in problems[0]


def test_a_placeholder_in_quotes_behind_a_wrapper_is_refused() -> None:
    problems = agent_template_problems(["timeout", "60", "sh", "-c", "a '{description}'"])
    assert len(problems) == 1 and "inside single quotes in the sh -c script" in problems[0]
    problems = agent_template_problems(["script", "-qc", 'a "{prompt}"', "/dev/null"])
    assert len(problems) == 1 and "inside double quotes in the script -qc script" in problems[0]


@pytest.mark.parametrize(
    ("script", "by"),
    [
        ("ssh box my-agent {description}", "ssh (remote shell)"),
        ("cd /src && sudo -u agent sh -c {description}", "sh -c"),
        ("eval {description}", "eval"),
        ("timeout 60 su agent -c {prompt}", "su -c"),
    ],
)
def test_a_placeholder_a_command_in_the_script_runs_again_is_refused(script: str, by: str) -> None:
    problems = agent_template_problems(["bash", "-c", script])
    assert len(problems) == 1
    assert f"would be run as shell code again by the {by} inside the bash -c script" in problems[0]
    with pytest.raises(UsageError, match="make that command the agent_command itself"):
        RunSettings(agent_command=["bash", "-c", script])


@pytest.mark.parametrize(
    "script",
    [
        "my-agent {description} | tee log; ssh box true",  # ssh gets no task text
        "ssh box my-agent --task {id}",  # an ID is letters, digits, . and -
        "my-agent -c {prompt}",
        "my-agent {description} 'unclosed",  # the shell refuses it, saying so
    ],
)
def test_a_script_that_hands_no_task_text_on_is_fine(script: str) -> None:
    assert agent_template_problems(["bash", "-c", script]) == []


@pytest.mark.parametrize(
    ("template", "form"),
    [
        (["python3", "-c", "import x; x.run('{description}')"], "python3 -c"),
        (["timeout", "60", "python", "-Bc", "print({prompt!r})"], "python -Bc"),
        (["node", "-e", "run(`{prompt}`)"], "node -e"),
        (["node", "--eval", "run('{files}')"], "node --eval"),
        (["perl", "-le", "print q({description})"], "perl -le"),
        (["ruby", "-e", "puts '{phase}'"], "ruby -e"),
        (["fish", "-c", "my-agent {description}"], "fish -c"),
        (["pwsh", "-Command", "my-agent {description}"], "pwsh -Command"),
        # Options before the code, with their values; code attached to its option.
        (["python3", "-W", "ignore", "-c", "x('{description}')"], "python3 -c"),
        (["python3", "-cprint('{description}')"], "python3 -c"),
        (["perl", "-Mfeature=say", "-E", "say q({description})"], "perl -E"),
        (["ruby", "-E", "UTF-8", "-rjson", "-e", "p '{description}'"], "ruby -e"),
        (["node", "-r", "ts-node/register", "-pe", "'{description}'"], "node -pe"),
        (["node", "--eval=run('{description}')"], "node --eval"),
        (["node", "--require", "x", "--print", "'{description}'"], "node --print"),
        (["perl", "-Mstrict", "-0777", "-ne", "print q({description})"], "perl -ne"),
        (["php", "-d", "x=1", "-R", "echo '{description}';"], "php -R"),
        (["lua", "-l", "socket", "-e", "print('{description}')"], "lua -e"),
        (["pwsh", "-ExecutionPolicy", "Bypass", "-c", "agent {description}"], "pwsh -c"),
        (["osascript", "-l", "JavaScript", "-e", "run('{description}')"], "osascript -e"),
    ],
)
def test_task_text_in_another_interpreters_code_is_refused(template: list[str], form: str) -> None:
    problems = agent_template_problems(template)
    assert len(problems) == 1
    assert f"is in the code that {form} runs" in problems[0]
    assert "pass the value as an argument of its own after the code" in problems[0]


@pytest.mark.parametrize(
    "template",
    [
        ["python3", "-c", "import sys; print(sys.argv[1])", "{description}"],
        ["python3", "-c", "open('agent.txt', 'w').write('{id}')"],  # an ID is inert
        ["python3", "agent.py", "-c", "{prompt}"],  # agent.py's -c
        ["perl", "agent.pl", "{description}"],
        ["python3", "-m", "agent", "-c", "{description}"],  # the module's -c
        ["node", "agent.js", "-e", "{description}"],
        ["pwsh", "-File", "agent.ps1", "-c", "{description}"],
        ["php", "-c", "php.ini", "agent.php", "{description}"],  # php's -c is its ini file
        ["ruby", "-e", "p ARGV", "{description}"],
    ],
)
def test_task_text_as_an_interpreters_argument_is_fine(template: list[str]) -> None:
    assert agent_template_problems(template) == []


def test_env_split_string_is_refused() -> None:
    problems = agent_template_problems(["env", "-S", "bash -c 'a {description}'"])
    assert problems and "env -S is not supported" in problems[0]


# --- each setting declared once -------------------------------------------------------------


def test_what_a_resume_keeps_is_derived_from_the_declarations() -> None:
    from taskexec_nb.run import resume
    from taskexec_nb.settings import KEPT_ON_RESUME, RUN_SETTINGS

    assert resume.KEPT_ON_RESUME is KEPT_ON_RESUME
    assert KEPT_ON_RESUME == (
        "max_workers",
        "resources",
        "fail_fast",
        "allow_failure",
        "retries",
        "backoff",
        "timeout",
        "kill_grace",
        "no_action",
        "writeback",
    )
    assert all(RUN_SETTINGS[name].kept_on_resume for name in KEPT_ON_RESUME)


def test_every_setting_is_declared_with_its_name() -> None:
    from dataclasses import fields

    from taskexec_nb.settings import CONFIG_SETTINGS, RUN_SETTINGS, SETTINGS

    declared = {f.name for f in fields(RunSettings)} - {"overrides"}
    assert set(RUN_SETTINGS) == declared
    assert set(CONFIG_SETTINGS) == {"mode", "only", "from_task", "until", "env_file"}
    assert all(spec.name == name for name, spec in SETTINGS.items())
    assert RUN_SETTINGS["max_workers"].flag == "--jobs"
    assert RUN_SETTINGS["writeback"].flag == "--[no-]writeback"
    assert CONFIG_SETTINGS["from_task"].flag == "--from"
    assert RUN_SETTINGS["shell"].flag == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fail_fast": "yes"}, "fail_fast must be true or false, got 'yes'"),
        ({"writeback": 1}, "writeback must be true or false, got 1"),
        ({"shell": ""}, "shell must not be empty, got ''"),
        ({"secrets": "TOKEN"}, "secrets must be a list of strings, got 'TOKEN'"),
        (
            {"env": {"A": [1]}},
            "env.A must be a string, a whole number, a number or true or false, got [1]",
        ),
        ({"executors": {"notebook": 3}}, "executors.notebook must be a table, got 3"),
        ({"cwd": 3}, "cwd must be a string, got 3"),
        ({"tail_lines": 0}, "tail_lines must be >= 1, got 0"),
        ({"backoff": True}, "backoff must be a number, got True"),
    ],
)
def test_run_settings_check_every_field_by_its_declared_kind(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        RunSettings(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == f"invalid run settings: {message}"


def test_run_settings_keep_good_values_as_given() -> None:
    from pathlib import Path

    s = RunSettings(timeout=30, state_dir=Path("x"), shell=Path("/bin/bash"))  # type: ignore[arg-type]
    assert s.timeout == 30 and isinstance(s.timeout, int)
    assert s.state_dir == Path("x") and s.shell == Path("/bin/bash")
    assert RunSettings(kill_grace="250ms").kill_grace == 0.25  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "refused"),
    [
        (["setsid", "my-agent", "{prompt}"], True),
        (["/usr/bin/setsid", "-f", "my-agent", "{prompt}"], True),
        (["setsid", "--", "my-agent", "-w", "{prompt}"], True),  # the agent's own -w
        (["setsid", "-w", "my-agent", "{prompt}"], False),
        (["setsid", "--wait", "my-agent", "{prompt}"], False),
        (["setsid", "-cw", "my-agent", "{prompt}"], False),
        (["timeout", "60", "my-agent", "{prompt}"], False),
        # env, nice, nohup... exec setsid in the task's own process, the group's leader.
        (["env", "A=1", "setsid", "my-agent", "{prompt}"], True),
        (["/usr/bin/env", "-u", "X", "--", "setsid", "my-agent", "{prompt}"], True),
        (["nice", "-n", "5", "setsid", "my-agent", "{prompt}"], True),
        (["nohup", "env", "A=1", "setsid", "-f", "my-agent", "{prompt}"], True),
        (["env", "A=1", "setsid", "-w", "my-agent", "{prompt}"], False),
        (["timeout", "60", "setsid", "my-agent", "{prompt}"], False),  # timeout forks it
        (["env", "A=1", "my-agent", "setsid", "{prompt}"], False),
    ],
)
def test_a_bare_setsid_agent_command_is_refused(template: list[str], refused: bool) -> None:
    # Each task leads its own process group, so setsid forks, exits 0 at once, and the
    # task would count as done while the agent still works.
    problems = agent_template_problems(template)
    assert bool(problems) is refused
    if refused:
        assert "write setsid -w" in problems[0]
        with pytest.raises(UsageError, match="a bare setsid forks and returns at once"):
            RunSettings(agent_command=template)
