"""Agent commands: their placeholders, the shell script they may run, what is wrong with one.

``agent_command`` is a run setting (:mod:`taskexec_nb.settings` checks it with
:func:`agent_template_problems`); the agent executor builds the command with
:func:`shell_script`, and the CLI shows its form with :func:`agent_command_form`.
"""

from __future__ import annotations

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


AGENT_EXAMPLE = ("claude", "-p", "--permission-mode", "acceptEdits", "{prompt}")
"""A working ``agent_command`` (Claude Code, allowed to edit files), for hints."""
AGENT_TOML_EXAMPLE = "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]"
""":data:`AGENT_EXAMPLE` as a ``taskexec.toml`` line."""
AGENT_FLAG_EXAMPLE = "--agent-command '" + " ".join(AGENT_EXAMPLE) + "'"
""":data:`AGENT_EXAMPLE` as a ``taskexec run`` flag."""
