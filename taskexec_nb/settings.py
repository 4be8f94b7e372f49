"""Run settings: one declared, documented object shared by the API and the CLI.

Where settings come from (files, profiles, environment) is the configuration
layer's work; this module only declares them, with defaults and checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from taskexec_nb.errors import UsageError

AGENT_PLACEHOLDERS = (
    "id",
    "description",
    "files",
    "phase",
    "story",
    "tasks_file",
    "context",
    "prompt",
)
"""The fields an ``agent_command`` element may use, e.g. ``{prompt}``."""


_SHELL_RE = re.compile(r"(?:sh|ash|bash|dash|ksh|mksh|zsh)(?:-?\d+(?:\.\d+)*)?")
"""A POSIX-family shell's program name, with an optional version: ``bash``, ``bash5``, ``ksh93``."""


@dataclass(frozen=True)
class ShellScript:
    """Where an ``agent_command`` runs a shell script: ``bash -c SCRIPT [$0 $1 ...]``.

    Attributes:
        index: The position of the script (the element after the ``-c``-carrying flag).
        shell: The shell's program name as written (its basename), e.g. ``bash``.
        flag: The flag that carries ``c``, e.g. ``-c`` or ``-lc``.
    """

    index: int
    shell: str
    flag: str


def shell_script(template: Sequence[str]) -> ShellScript | None:
    """Whether an ``agent_command`` runs a shell with a ``-c`` script, and where the script is.

    The rule: the program (after ``env`` and its options and ``NAME=VALUE``
    words, if it starts with ``env``) is a POSIX-family shell by its basename
    (sh, ash, bash, dash, ksh, mksh, zsh, optionally with a version:
    ``bash5``, ``ksh93``), and one of its short option words carries ``c``
    (``-c``, ``-lc``, ``-ec``). The script is the first word after the
    options; later words are the script's ``$0``, ``$1``...

    Args:
        template: The argv template.

    Returns:
        Where the script is, or None for a plain argv.
    """
    n, i = len(template), 0
    if n and os.path.basename(template[0]) == "env":
        i = 1
        while i < n:
            word = template[i]
            if word in ("-u", "--unset", "-C", "--chdir"):
                i += 2
            elif word == "--":
                i += 1
                break
            elif word.startswith("-") or "=" in word.lstrip("="):
                i += 1
            else:
                break
    if i >= n or not _SHELL_RE.fullmatch(os.path.basename(template[i])):
        return None
    shell, j, flag = os.path.basename(template[i]), i + 1, None
    while j < n:
        word = template[j]
        if word in ("--", "-"):
            j += 1
            break
        if word.startswith("--"):
            j += 2 if word in ("--rcfile", "--init-file") else 1
        elif word[:1] in ("-", "+") and len(word) > 1:
            if word[0] == "-" and "c" in word[1:]:
                flag = word
            j += 2 if word[-1] in "oO" else 1  # -o pipefail, -O extglob: the option's value
        else:
            break
    if flag is None or j >= n:
        return None
    return ShellScript(j, shell, flag)


def agent_command_form(template: Sequence[str]) -> str:
    """How an ``agent_command`` is run, in one line (for ``validate`` and ``--dry-run``).

    Args:
        template: The argv template.

    Returns:
        ``argv (no shell)`` or ``shell script via bash -c; placeholders are shell-quoted``.
    """
    found = shell_script(template)
    if found is None:
        return "argv (no shell)"
    return f"shell script via {found.shell} {found.flag}; placeholders are shell-quoted"


def _unsafe_in_script(script: str) -> list[tuple[str, str]]:
    """Placeholders of a shell script where a shell-quoted value would not stay one word.

    A quoted value is one inert word where a word may start: not inside quotes
    or backticks, not after a backslash or ``$`` (``$'...'`` is ANSI-C quoting), not
    in a comment (the value's newline would end it), not in a here-document
    (where ``$(...)`` runs even inside single quotes).

    Args:
        script: The script element of the template.

    Returns:
        (placeholder, why) pairs.
    """
    import string

    state = ""  # "'", '"', "`", "#" (a comment) or "" (plain)
    heredoc = False
    previous = "\n"
    out: list[tuple[str, str]] = []
    for literal, name, _, _ in string.Formatter().parse(script):
        escaped = False
        for ch in literal:
            if escaped:
                escaped = False
            elif state == "'":
                state = "" if ch == "'" else state
            elif state == "#":
                state = "" if ch == "\n" else state
            elif ch == "\\":
                escaped = True
            elif state:
                state = "" if ch == state else state
            elif ch in "'\"`":
                state = ch
            elif ch == "#" and previous in " \t\n;&|()":
                state = "#"
            elif ch == "<" and previous == "<":
                heredoc = True
            previous = ch
        if name is None:
            continue
        why = {
            "'": "inside single quotes",
            '"': "inside double quotes",
            "`": "inside backticks",
            "#": "in a comment",
        }.get(state)
        if why is None and escaped:
            why = "after a backslash"
        elif why is None and literal.endswith("$"):
            why = "after $"
        elif why is None and heredoc:
            why = "in a here-document"
        if why:
            out.append((name, why))
        previous = "x"  # the value is a word
    return out


def agent_template_problems(template: Sequence[str]) -> list[str]:
    """What is wrong with an ``agent_command`` template.

    Unknown fields, stray braces, and in a shell's ``-c`` script a placeholder
    where its shell-quoted value would not stay one word (inside quotes, ...).

    Args:
        template: The argv template.

    Returns:
        One message per problem (empty when the template is good).
    """
    import string

    known = ", ".join("{" + p + "}" for p in AGENT_PLACEHOLDERS)
    problems = []
    script = shell_script(template)
    if script is None and template and os.path.basename(template[0]) == "env":
        split = [w for w in template if w.startswith("-S") or w.startswith("--split-string")]
        if split:
            problems.append(
                f"agent_command: env {split[0]} is not supported (taskexec could not tell "
                "whether a shell runs the task text): write the argv as separate elements"
            )
    for index, element in enumerate(template):
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(element) if f is not None]
        except ValueError as exc:
            problems.append(
                f"agent_command: bad template element {element!r}: {exc} "
                "(write {{ and }} for literal braces)"
            )
            continue
        unknown = [name for name in names if name not in AGENT_PLACEHOLDERS]
        problems.extend(
            f"agent_command: unknown placeholder {{{name}}} in {element!r} (known: {known})"
            for name in unknown
        )
        if script is not None and index == script.index and not unknown:
            problems.extend(
                f"agent_command: {{{name}}} is {why} in the {script.shell} {script.flag} "
                f"script {element!r}: write it as a bare word (e.g. my-agent {{{name}}}); "
                "taskexec shell-quotes the value so the task text stays one word"
                for name, why in _unsafe_in_script(element)
            )
    return problems


NO_ACTION_CHOICES = ("agent", "skip", "fail")

AGENT_EXAMPLE = ("claude", "-p", "--permission-mode", "acceptEdits", "{prompt}")
"""A working ``agent_command`` (Claude Code, allowed to edit files), for hints."""
AGENT_TOML_EXAMPLE = "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]"
""":data:`AGENT_EXAMPLE` as a ``taskexec.toml`` line."""
AGENT_FLAG_EXAMPLE = "--agent-command '" + " ".join(AGENT_EXAMPLE) + "'"
""":data:`AGENT_EXAMPLE` as a ``taskexec run`` flag."""


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def unknown_names(given: Iterable[str], known: Collection[str]) -> str:
    """The names in ``given`` that are not in ``known``, each with a did-you-mean hint.

    Args:
        given: Names as written.
        known: The valid names.

    Returns:
        ``'tiemout' (did you mean 'timeout'?), 'x'``, sorted; empty if all are known.
    """
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return ""
    import difflib

    choices = sorted(known)
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, choices, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


@dataclass(frozen=True)
class RunSettings:
    """How a run executes. Every field has a documented default.

    Attributes:
        max_workers: Tasks running at once (default: the number of CPUs).
        resources: Named capacities, e.g. ``{"gpu": 1, "agent": 1}``; a task's
            ``needs`` must fit within them.
        fail_fast: Stop starting tasks after the first failure.
        allow_failure: A failed task leaves its dependents free to run (for
            tasks that set none).
        retries: Extra attempts after a failure, for tasks that set none.
        backoff: Seconds before the first retry; doubles for each next one.
        timeout: Seconds a task may run, for tasks that set none (None: no limit).
        kill_grace: Seconds between SIGTERM and SIGKILL when a task is stopped.
        no_action: What to do with a task that has no action: ``agent`` (hand it
            to ``agent_command``), ``skip`` (record it as skipped, not done) or
            ``fail``. None: ``agent`` when an agent command is set, else ``skip``.
        agent_command: argv template of an AI coding agent's CLI, with
            placeholders ``{id}``, ``{description}``, ``{files}``, ``{phase}``,
            ``{story}``, ``{tasks_file}``, ``{context}`` and ``{prompt}``;
            without ``{prompt}`` the prompt is written to the agent's stdin.
        agent_context: Give the agent the feature's context: the paths of the
            design documents beside tasks.md (plan.md, spec.md, ...) and of the
            project's constitution, in the prompt and as ``{context}``.
        writeback: Tick ``[X]`` in tasks.md after verified success.
        state_dir: Folder of the state store and logs (default: ``.taskexec``
            beside the tasks.md).
        env: Extra environment variables for every task.
        secrets: Names of variables whose values are masked (``****``) in logs,
            events, the store and displays, besides names containing TOKEN,
            SECRET, PASSWORD or KEY.
        cwd: Working directory of tasks (default: the tasks.md folder).
        shell: Shell used for ``sh``/``shell`` blocks and ``run=`` commands.
        tail_lines: Lines of output kept in the state for each attempt.
        log_dir: Folder of the runs' logs and artifacts (default:
            ``<state_dir>/logs``); each run writes into a subfolder.
        log_retention: How many runs' log folders to keep (None: all); older
            ones are removed when a run starts.
        executors: Options per executor, e.g. ``{"notebook": {"kernel": "python3"},
            "python": {"interpreter": "/usr/bin/python3"}}``.
        overrides: Per-task settings from the config file's ``[[overrides]]``
            (see :mod:`taskexec_nb.config`).
    """

    max_workers: int = field(default_factory=_default_workers)
    resources: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    fail_fast: bool = False
    allow_failure: bool = False
    retries: int = 0
    backoff: float = 1.0
    timeout: float | None = None
    kill_grace: float = 5.0
    no_action: str | None = None
    agent_command: Sequence[str] | None = None
    agent_context: bool = True
    writeback: bool = True
    state_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: Path | None = None
    shell: str = "/bin/sh"
    tail_lines: int = 50
    secrets: tuple[str, ...] = ()
    log_dir: Path | None = None
    log_retention: int | None = None
    executors: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    overrides: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for name in ("backoff", "kill_grace", "timeout"):
            value = getattr(self, name)
            if isinstance(value, str):  # "90s", "5m": as in the config file and on the CLI
                from taskexec_nb.annotations import AnnotationError, parse_duration

                try:
                    value = parse_duration(value)
                except AnnotationError as exc:
                    raise UsageError(f"invalid run settings: {name}: {exc} ({exc.hint})") from None
                object.__setattr__(self, name, value)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise UsageError(f"invalid run settings: {name} must be a number, got {value!r}")
        if self.log_retention is not None and (
            isinstance(self.log_retention, bool)
            or not isinstance(self.log_retention, int)
            or self.log_retention < 1
        ):
            problems.append(
                f"log_retention must be a whole number >= 1, got {self.log_retention!r}"
            )
        if not isinstance(self.agent_context, bool):
            problems.append(f"agent_context must be true or false, got {self.agent_context!r}")
        for name in ("max_workers", "retries", "tail_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(
                    f"invalid run settings: {name} must be a whole number, got {value!r}"
                )
        if self.tail_lines < 1:
            problems.append(f"tail_lines must be >= 1, got {self.tail_lines!r}")
        if self.max_workers < 1:
            problems.append(f"max_workers must be a whole number >= 1, got {self.max_workers!r}")
        if self.retries < 0:
            problems.append(f"retries must be a whole number >= 0, got {self.retries!r}")
        for name in ("backoff", "kill_grace"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.timeout is not None and self.timeout <= 0:
            problems.append(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.no_action is not None and self.no_action not in NO_ACTION_CHOICES:
            problems.append(
                f"no_action must be one of {', '.join(NO_ACTION_CHOICES)}, got {self.no_action!r}"
            )
        if self.agent_command is not None and (
            isinstance(self.agent_command, str)
            or not self.agent_command
            or not all(isinstance(a, str) for a in self.agent_command)
        ):
            problems.append(
                "agent_command must be a non-empty list of strings (an argv), "
                f"got {self.agent_command!r}"
            )
        elif self.agent_command is not None:
            problems.extend(agent_template_problems(self.agent_command))
        for name, amount in self.resources.items():
            if not isinstance(amount, int | float) or amount <= 0:
                problems.append(f"resources.{name} must be a positive number, got {amount!r}")
        if problems:
            raise UsageError("invalid run settings: " + "; ".join(problems))

    @property
    def effective_no_action(self) -> str:
        """The no-action policy after applying the default."""
        if self.no_action is not None:
            return self.no_action
        return "agent" if self.agent_command else "skip"

    def with_overrides(self, **overrides: Any) -> RunSettings:
        """Return a copy with some settings changed (unknown names are an error).

        Args:
            **overrides: Setting names and values; None values are ignored.

        Returns:
            The new settings.

        Raises:
            UsageError: For an unknown setting name or a bad value.
        """
        unknown = unknown_names(overrides, {f.name for f in fields(self)})
        if unknown:
            raise UsageError(f"unknown run setting(s): {unknown}")
        given = {k: v for k, v in overrides.items() if v is not None}
        if "resources" in given:
            given["resources"] = MappingProxyType(dict(given["resources"]))
        if "env" in given:
            given["env"] = MappingProxyType(dict(given["env"]))
        if "agent_command" in given and not isinstance(given["agent_command"], str):
            given["agent_command"] = tuple(given["agent_command"])
        for name in ("state_dir", "cwd", "log_dir"):
            if name in given:
                given[name] = Path(given[name])
        if "executors" in given:
            given["executors"] = MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in dict(given["executors"]).items()}
            )
        for name in ("secrets", "overrides"):
            if name in given and not isinstance(given[name], tuple):
                given[name] = tuple(given[name])
        return replace(self, **given)

    def to_dict(self, masked: bool = True) -> dict[str, Any]:
        """A JSON-ready view of every setting.

        Args:
            masked: Show secret environment values as ``****`` (see
                :mod:`taskexec_nb.secrets`).

        Returns:
            Setting names and plain values.
        """
        from taskexec_nb.secrets import mask_env

        def shown(env: Mapping[str, str]) -> dict[str, str]:
            # An override's variables are masked with the run's own: its secrets may appear.
            if not masked:
                return dict(env)
            both = mask_env({**self.env, **env}, self.secrets)
            return {name: both[name] for name in env}

        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "env":
                value = shown(value)
            elif f.name == "overrides":
                value = [
                    {
                        "phases": list(o.phases),
                        "stories": list(o.stories),
                        "tasks": list(o.tasks),
                        "settings": {
                            k: (shown(v) if k == "env" else v) for k, v in o.values.items()
                        },
                        "source": o.source,
                    }
                    for o in value
                ]
            elif f.name == "executors":
                value = {k: dict(v) for k, v in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out
