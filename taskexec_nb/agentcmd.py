"""Agent commands: their placeholders, the shell script they may run, what is wrong with one.

``agent_command`` is a run setting (:mod:`taskexec_nb.settings` checks it with
:func:`agent_template_problems`); the agent executor builds the command with
:func:`shell_script`, and the CLI shows its form with :func:`agent_command_form`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

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


_COMMAND_OPTION_PROGRAMS = frozenset({"su", "runuser", "script", "flock"})
"""Programs whose ``-c``/``--command`` value is run by a shell: ``script -qc "cmd" /dev/null``."""

_SSH_VALUE_FLAGS = "BbcDEeFIiJLlmOopQRSWw"
"""The ssh options that take a value (``-p 22``, ``-i key``, ``-o Opt=v``)."""


@dataclass(frozen=True)
class ShellScript:
    """Where an ``agent_command`` hands a shell a script: ``bash -c SCRIPT [$0 $1 ...]``.

    Attributes:
        index: The position of the script (the element after the ``-c``-carrying flag).
        shell: The program that runs it, by its basename as written, e.g. ``bash``.
        flag: The flag that carries ``c``, e.g. ``-c`` or ``-lc`` (``ssh``: empty).
        count: How many elements from ``index`` on are shell code: 1, or for
            ``ssh HOST CMD...`` every element after the host (ssh joins them
            into one command line for the remote shell).
    """

    index: int
    shell: str
    flag: str
    count: int = 1

    def covers(self, index: int) -> bool:
        """Whether the template's element at ``index`` is shell code.

        Args:
            index: A position in the template.

        Returns:
            True for the script's element(s).
        """
        return self.index <= index < self.index + self.count

    def describe(self) -> str:
        """The form in words, e.g. ``bash -c`` or ``ssh (remote shell)``.

        Returns:
            The program and its flag.
        """
        return f"{self.shell} {self.flag}" if self.flag else f"{self.shell} (remote shell)"


def shell_script(template: Sequence[str]) -> ShellScript | None:
    """Whether an ``agent_command`` hands a shell a script, and where the script is.

    The rule, wherever the program stands in the argv (first, or after
    wrappers such as ``env NAME=VALUE``, ``timeout 600``, ``nice -n 5``,
    ``sudo -u agent``, ``setsid``, ``flock FILE``, ``docker exec CONTAINER``
    or a script of yours that runs its arguments):

    * a POSIX-family shell by its basename (sh, ash, bash, dash, ksh, mksh,
      zsh, optionally with a version: ``bash5``, ``ksh93``), one of whose
      short option words carries ``c`` (``-c``, ``-lc``, ``-ec``): the script
      is the first word after its options; later words are its ``$0``, ``$1``...;
    * ``su``, ``runuser``, ``script`` or ``flock`` with ``-c``/``--command``
      (``script -qc CMD /dev/null``): the option's value is run by a shell;
    * ``ssh [options] HOST CMD...``: ssh joins the words after the host into
      one command line for the remote login shell, so they are all script.

    Args:
        template: The argv template.

    Returns:
        Where the first such script is, or None for a plain argv.
    """
    for k, word in enumerate(template):
        program = os.path.basename(word)
        if _SHELL_RE.fullmatch(program):
            found = _shell_c(template, k)
        elif program in _COMMAND_OPTION_PROGRAMS:
            found = _command_option(template, k)
        elif program == "ssh":
            found = _ssh_command(template, k)
        else:
            continue
        if found is not None:
            return found
    return None


def _shell_c(template: Sequence[str], k: int) -> ShellScript | None:
    """``sh [options] -c SCRIPT``, the shell at ``k``."""
    n, j, flag = len(template), k + 1, None
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
    return ShellScript(j, os.path.basename(template[k]), flag)


def _command_option(template: Sequence[str], k: int) -> ShellScript | None:
    """``su USER -c CMD``, ``script -qc CMD FILE``, ``flock FILE -c CMD``: the program at ``k``."""
    program = os.path.basename(template[k])
    positional, j = 0, k + 1
    while j < len(template):
        word = template[j]
        j += 1
        if word == "--":
            return None
        if word.startswith("--command="):
            return ShellScript(j - 1, program, "--command")
        is_group = word[:1] == "-" and word[1:].isalpha() and word.endswith("c")
        if word == "--command" or is_group:
            return ShellScript(j, program, word) if j < len(template) else None
        if program == "flock":  # flock [options] FILE -c CMD, or FILE CMD ARGS (argv)
            if word in ("-w", "-E", "--wait", "--timeout", "--conflict-exit-code"):
                j += 1
            elif not word.startswith("-"):
                positional += 1
                if positional > 1:
                    return None
    return None


def _ssh_command(template: Sequence[str], k: int) -> ShellScript | None:
    """``ssh [options] HOST CMD...``, ssh at ``k``: every word after the host."""
    n, j = len(template), k + 1
    while j < n and template[j].startswith("-") and template[j] != "-":
        word = template[j]
        j += 1
        if word == "--":
            break
        for at, letter in enumerate(word[1:], start=1):
            if letter in _SSH_VALUE_FLAGS:
                j += 0 if word[at + 1 :] else 1  # -p22 or -p 22
                break
    if j + 1 >= n:
        return None  # no host, or no command: an interactive login
    return ShellScript(j + 1, "ssh", "", n - j - 1)


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
    return f"shell script via {found.describe()}; placeholders are shell-quoted"


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
            code = " ".join(template[index : index + script.count])
            unsafe: list[tuple[str, str]] = []
            with contextlib.suppress(ValueError):  # a later element's bad brace: told above
                unsafe = _unsafe_in_script(code)
            problems.extend(
                f"agent_command: {{{name}}} is {why} in the {script.describe()} "
                f"script {code!r}: write it as a bare word (e.g. my-agent {{{name}}}); "
                "taskexec shell-quotes the value so the task text stays one word"
                for name, why in unsafe
            )
    return problems


AGENT_EXAMPLE = ("claude", "-p", "--permission-mode", "acceptEdits", "{prompt}")
"""A working ``agent_command`` (Claude Code, allowed to edit files), for hints."""
AGENT_TOML_EXAMPLE = "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]"
""":data:`AGENT_EXAMPLE` as a ``taskexec.toml`` line."""
AGENT_FLAG_EXAMPLE = "--agent-command '" + " ".join(AGENT_EXAMPLE) + "'"
""":data:`AGENT_EXAMPLE` as a ``taskexec run`` flag."""
