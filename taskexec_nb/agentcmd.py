"""Agent commands: their placeholders, the shell script they may run, what is wrong with one.

``agent_command`` is a run setting (:mod:`taskexec_nb.settings` checks it with
:func:`agent_template_problems`); the agent executor builds the command with
:func:`shell_script`, and the CLI shows its form with :func:`agent_command_form`.
Task text reaches a shell only where :func:`shell_script` finds one (then it is
shell-quoted); a placeholder that a shell would not keep one word, that a command
in the script hands to a shell again, or that lands in another interpreter's code
string is refused.
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


_COMMAND_OPTION_PROGRAMS: dict[str, tuple[str, ...]] = {
    "su": ("-c", "--command"),
    "runuser": ("-c", "--command"),
    "script": ("-c", "--command"),
    "flock": ("-c", "--command"),
    "vagrant": ("-c", "--command"),  # vagrant ssh -c CMD
    "gcloud": ("--command",),  # gcloud compute ssh HOST --command CMD
    "nix-shell": ("--run", "--command"),
}
"""Programs whose option's value is run by a shell (``script -qc "cmd" /dev/null``), and
those options (``-c`` also ends a group of short flags: ``-qc``)."""

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
    * ``su``, ``runuser``, ``script``, ``flock`` or ``vagrant`` with
      ``-c``/``--command`` (``script -qc CMD /dev/null``), ``gcloud`` with
      ``--command``, ``nix-shell`` with ``--run``/``--command``: the option's
      value is run by a shell;
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
    """``su USER -c CMD``, ``script -qc CMD FILE``, ``nix-shell --run CMD``: the program at k."""
    program = os.path.basename(template[k])
    positional, j = 0, k + 1
    while j < len(template):
        word = template[j]
        j += 1
        if word == "--":
            return None
        options = _COMMAND_OPTION_PROGRAMS[program]
        inline = [o for o in options if o.startswith("--") and word.startswith(o + "=")]
        if inline:
            return ShellScript(j - 1, program, inline[0])
        is_group = "-c" in options and word[1:].isalpha() and word[:1] == "-" and word[-1] == "c"
        if word in options or is_group:
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
    (where ``$(...)`` runs even inside single quotes), not in an arithmetic
    expression (``$(( ))``, ``(( ))``: bash runs the ``$(...)`` of a quoted
    array subscript, ``'a[$(cmd)]'``, there).

    Args:
        script: The script element of the template.

    Returns:
        (placeholder, why) pairs.
    """
    import string

    state = ""  # "'", '"', "`", "#" (a comment) or "" (plain)
    heredoc = False
    arithmetic = 0  # open (( or $((
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
            elif ch == "(" and previous == "(":
                arithmetic += 1
                ch = ""  # a third ( does not open another
            elif ch == ")" and previous == ")" and arithmetic:
                arithmetic -= 1
                ch = ""
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
        elif why is None and arithmetic:
            why = "in an arithmetic expression (( ))"
        if why:
            out.append((name, why))
        previous = "x"  # the value is a word
    return out


_INERT = ("id", "story")
"""Placeholders whose values are letters, digits, ``.`` and ``-`` only (a task ID is
``T083-B``, a story ``US2``): inert as code too, so not refused where they would be run."""


@dataclass(frozen=True)
class _Interpreter:
    """How an interpreter's options hand it code as a string (``python -c CODE``).

    Attributes:
        program: Its program names.
        code: Short options whose value is code (``c``: ``-c CODE``, ``-Bc CODE``,
            ``-cCODE``).
        long_code: Long options whose value is code (``--eval``).
        values: Short options (letters) whose value follows, attached or as the next
            word (``-W ignore``, ``-Wignore``).
        attached: Short options whose value can only be attached (``-Mstrict``).
        stop: Options after which the rest are arguments (``-m module``).
        long_values: Long options whose value is the next word (``--require x``).
        exact: Short option words whose value is code, for an interpreter that
            does not group its flags (node's ``-e``, ``-p``, ``-pe``).
    """

    program: re.Pattern[str]
    code: str
    long_code: tuple[str, ...] = ()
    values: str = ""
    attached: str = ""
    stop: str = ""
    long_values: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()


_INTERPRETERS = (
    _Interpreter(re.compile(r"(?:python|pypy)[\d.]*"), "c", values="WXQ", stop="m"),
    _Interpreter(
        re.compile(r"node(?:js)?|bun"),
        "",
        ("--eval", "--print"),
        values="rC",
        long_values=("--require", "--import", "--loader", "--conditions"),
        exact=("-e", "-p", "-pe", "-ep"),
    ),
    _Interpreter(re.compile(r"perl[\d.]*"), "eE", values="I", attached="MmxidCDV"),
    _Interpreter(re.compile(r"ruby[\d.]*"), "e", values="IrEC", attached="WTKxF"),
    _Interpreter(re.compile(r"lua(?:jit)?[\d.]*"), "e", values="l"),
    _Interpreter(re.compile(r"Rscript"), "e"),
    _Interpreter(re.compile(r"osascript"), "e", values="ls"),
    _Interpreter(re.compile(r"php[\d.]*"), "rBRE", values="cdz"),
    _Interpreter(re.compile(r"fish"), "cC", ("--command", "--init-command")),
    _Interpreter(re.compile(r"t?csh"), "c"),
)
"""The interpreters whose code strings taskexec cannot quote task text for."""

_PWSH_RE = re.compile(r"pwsh|powershell(?:\.exe)?", re.IGNORECASE)
"""PowerShell, whose ``-Command`` (any prefix down to ``-c``) takes code."""


def _code_strings(template: Sequence[str]) -> list[tuple[int, str]]:
    """Elements that another interpreter runs as code: (index, ``python -c``-like form)."""
    found = []
    for k, word in enumerate(template):
        program = os.path.basename(word)
        if _PWSH_RE.fullmatch(program):
            for j in range(k + 1, len(template) - 1):
                option = template[j].lower()
                if option in ("-f", "-file"):
                    break  # a script file: the rest are its arguments
                if len(option) > 1 and ("-command".startswith(option) or option == "-cwa"):
                    found.append((j + 1, f"{program} {template[j]}"))
                    break
            continue
        for interpreter in _INTERPRETERS:
            if interpreter.program.fullmatch(program):
                at = _code_option(template, k, interpreter)
                found.extend([at] if at is not None else [])
    return found


def _code_option(
    template: Sequence[str], k: int, interpreter: _Interpreter
) -> tuple[int, str] | None:
    """The code element of the interpreter at ``k``, and its form (``python -c``)."""
    program = os.path.basename(template[k])
    n, j = len(template), k + 1
    while j < n:
        option = template[j]
        j += 1
        if option in ("-", "--") or not option.startswith("-"):
            return None  # a script file (or stdin): the rest are its arguments
        if option.startswith("--"):
            name = option.split("=")[0]
            if name in interpreter.long_code:
                if "=" in option:
                    return j - 1, f"{program} {name}"
                return (j, f"{program} {option}") if j < n else None
            j += 1 if option in interpreter.long_values else 0
            continue
        if option in interpreter.exact:
            return (j, f"{program} {option}") if j < n else None
        for at, letter in enumerate(option[1:], start=1):
            rest = option[at + 1 :]
            if letter in interpreter.code:
                if rest:  # -cCODE
                    return j - 1, f"{program} {option[: at + 1]}"
                return (j, f"{program} {option}") if j < n else None
            if letter in interpreter.stop:
                return None
            if letter in interpreter.values:
                j += 0 if rest else 1
                break
            if letter in interpreter.attached or not letter.isalpha():
                break
    return None


def _run_again(script: str) -> list[tuple[str, str]]:
    """Placeholders that a command inside a shell script hands to a shell once more.

    ``bash -c "ssh box my-agent {description}"``: bash sees one quoted word, and
    ssh's remote shell parses it again. Such a command is found as
    :func:`shell_script` finds one in an argv, and ``eval``.

    Returns:
        (placeholder, the command that runs it again) pairs.
    """
    import shlex
    import string

    marks: dict[str, str] = {}
    text = []
    for literal, name, _, _ in string.Formatter().parse(script):
        text.append(literal)
        if name is not None:
            mark = f"TASKEXECFIELD{len(marks)}X"
            marks[mark] = name
            text.append(mark)
    if not marks:
        return []
    lexer = shlex.shlex("".join(text), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return []  # unbalanced quotes: the shell refuses it anyway
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token and all(ch in "();<>|&" for ch in token):
            commands.append([])
        else:
            commands[-1].append(token)
    out: list[tuple[str, str]] = []
    for words in commands:
        if words and words[0] == "eval":
            again, by = range(1, len(words)), "eval"
        else:
            inner = shell_script(words)
            if inner is None:
                continue
            again, by = range(inner.index, inner.index + inner.count), inner.describe()
        for i in again:
            out.extend(
                (name, by)
                for mark, name in marks.items()
                if mark in words[i] and name not in _INERT
            )
    return out


def agent_template_problems(template: Sequence[str]) -> list[str]:
    """What is wrong with an ``agent_command`` template.

    Unknown fields, stray braces; in a shell's ``-c`` script a placeholder where
    its shell-quoted value would not stay one word (inside quotes, ...), or that
    a command in the script hands to a shell again (``ssh``, ``sh -c``,
    ``eval``); a placeholder in the code string of another interpreter
    (``python -c``, ``node -e``, ``perl -e``, ``fish -c``...), which taskexec
    cannot quote for.

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
            if not unsafe:
                with contextlib.suppress(ValueError):
                    unsafe = _run_again(code)
                problems.extend(
                    f"agent_command: {{{name}}} would be run as shell code again by the "
                    f"{by} inside the {script.describe()} script {code!r} (taskexec quotes "
                    "it for one shell): make that command the agent_command itself "
                    '(e.g. ["ssh", "box", "my-agent", "{' + name + '}"]): taskexec then '
                    "quotes the value for the shell that runs it"
                    for name, by in unsafe
                )
    for index, form in _code_strings(template):
        with contextlib.suppress(ValueError):  # a bad brace: told above
            names = [f for _, f, _, _ in string.Formatter().parse(template[index]) if f]
            problems.extend(
                f"agent_command: {{{name}}} is in the code that {form} runs "
                f"({template[index]!r}): taskexec cannot quote task text for it; pass the "
                f"value as an argument of its own after the code (e.g. {form} CODE "
                f"{{{name}}}, the code reading its first argument)"
                for name in names
                if name not in _INERT
            )
    at = _exec_in_place(template)
    if (
        at < len(template)
        and os.path.basename(template[at]) == "setsid"
        and not _setsid_waits(template[at:])
    ):
        problems.append(
            "agent_command: a bare setsid forks and returns at once (each task leads its own "
            "process group), so the task would count as done while the agent still works: "
            "write setsid -w (--wait), or leave setsid out"
        )
    return problems


_IN_PLACE_WRAPPERS: dict[str, tuple[str, ...]] = {
    "env": ("-u", "--unset", "-C", "--chdir"),
    "nice": ("-n", "--adjustment"),
    "nohup": (),
    "ionice": ("-c", "--class", "-n", "--classdata"),
    "stdbuf": ("-i", "-o", "-e", "--input", "--output", "--error"),
}
"""Programs that run their command in their own process (exec), so it stays the task's
process group leader, and their options that take the next word as a value."""


def _exec_in_place(template: Sequence[str]) -> int:
    """The index of the program that runs as the task's process, after ``env``, ``nice``...

    ``env A=1 setsid agent``: env execs setsid in its own process, the group's leader.

    Args:
        template: The argv template.

    Returns:
        The index of the first word that is not such a wrapper, its option or
        (for ``env``) a ``NAME=VALUE``; ``len(template)`` if there is none.
    """
    i, n = 0, len(template)
    while i < n and os.path.basename(template[i]) in _IN_PLACE_WRAPPERS:
        valued = _IN_PLACE_WRAPPERS[os.path.basename(template[i])]
        env = os.path.basename(template[i]) == "env"
        i += 1
        while i < n:
            word = template[i]
            if word == "--":
                i += 1
                break
            if word in valued:
                i += 2
            elif (word.startswith("-") and word != "-") or (env and "=" in word.lstrip("=")):
                i += 1
            else:
                break
    return i


def _setsid_waits(template: Sequence[str]) -> bool:
    """Whether ``setsid``'s options (before its command) include ``-w``/``--wait``."""
    for word in template[1:]:
        if not word.startswith("-") or word == "--":
            return False
        if word == "--wait" or (not word.startswith("--") and "w" in word[1:]):
            return True
    return False


AGENT_EXAMPLE = ("claude", "-p", "--permission-mode", "acceptEdits", "{prompt}")
"""A working ``agent_command`` (Claude Code, allowed to edit files), for hints."""
AGENT_TOML_EXAMPLE = "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]"
""":data:`AGENT_EXAMPLE` as a ``taskexec.toml`` line."""
AGENT_FLAG_EXAMPLE = "--agent-command '" + " ".join(AGENT_EXAMPLE) + "'"
""":data:`AGENT_EXAMPLE` as a ``taskexec run`` flag."""
