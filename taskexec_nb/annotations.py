"""The ``taskexec:`` annotation syntax for execution parameters.

An annotation is a line in a task's body, as a sub-bullet or an HTML comment,
so the tasks.md stays readable and valid spec-kit::

    - [ ] T010 [US1] Train the model in src/train.py
      - taskexec: timeout=30m retries=2 needs=gpu:1 env.EPOCHS=3
      <!-- taskexec: cwd=src allow_failure=yes -->
      ```bash
      python train.py
      ```

Values are shell-quoted words (``run="make docs"``). Keys are listed in
:data:`KEYS`; an unknown key is an error with a did-you-mean.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from taskexec_nb._lazyre import LazyPattern
from taskexec_nb.errors import AnnotationError
from taskexec_nb.model import Action, ActionKind, ExecParams

ANNOTATION_RE = LazyPattern(
    r"^\s*(?:[-*+]\s+)?(?:<!--\s*)?`?taskexec\s*:\s*(?P<rest>.*?)`?\s*(?:-->)?\s*$",
    re.IGNORECASE,
)

KEYS: dict[str, str] = {
    "run": 'a command line run by the shell, e.g. run="make docs"',
    "notebook": "a notebook run through papermill, e.g. notebook=nb/train.ipynb",
    "callable": "a Python callable, e.g. callable=pkg.module:function",
    "executor": "the executor to use by name, e.g. executor=agent",
    "timeout": "a duration: 90, 90s, 5m, 1h30m",
    "retries": "extra attempts after a failure: 0, 1, 2 ...",
    "backoff": "a duration waited before the first retry (doubling after)",
    "needs": "resources held while running: needs=gpu:1,cpu:2",
    "cwd": "the working directory, relative to the tasks.md folder",
    "allow_failure": "yes/no: dependents may still run when this task fails",
    "env.NAME": "an environment variable, e.g. env.EPOCHS=3",
    "param.NAME": "a notebook parameter, e.g. param.epochs=3",
}

_DURATION_RE = LazyPattern(r"^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$")
_DURATION_PART_RE = LazyPattern(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NAME_RE = LazyPattern(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESOURCE_RE = LazyPattern(r"^[A-Za-z_][\w-]*$")
_TRUE = {"yes", "true", "on", "1", "y"}
_FALSE = {"no", "false", "off", "0", "n"}


def parse_duration(text: str) -> float:
    """Parse a duration such as ``90``, ``1.5s``, ``5m``, ``1h30m`` or ``250ms``.

    Args:
        text: The duration as written.

    Returns:
        The duration in seconds.

    Raises:
        AnnotationError: If the text is not a duration.
    """
    clean = text.strip().lower()
    try:
        value = float(clean)
    except ValueError:
        value = -1.0
        if _DURATION_RE.match(clean):
            value = sum(
                float(num) * _UNIT_SECONDS[unit]
                for num, unit in _DURATION_PART_RE.compiled.findall(clean)
            )
    if not math.isfinite(value) or value < 0:
        raise AnnotationError(
            f"{text!r} is not a duration", "write seconds (90) or units: 90s, 5m, 1h30m, 250ms"
        )
    return value


def parse_bool(text: str) -> bool:
    """Parse yes/no, true/false, on/off, 1/0.

    Args:
        text: The value as written.

    Returns:
        The boolean.

    Raises:
        AnnotationError: If the text is not a boolean word.
    """
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise AnnotationError(f"{text!r} is not yes/no", "write yes or no (true/false also work)")


def parse_resources(text: str) -> dict[str, float]:
    """Parse ``gpu:1,cpu:2`` (a bare name means 1).

    Args:
        text: The value as written.

    Returns:
        Resource name to amount.

    Raises:
        AnnotationError: If an entry is malformed or not positive.
    """
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, amount = part.partition(":")
        name = name.strip()
        if not _RESOURCE_RE.match(name):
            raise AnnotationError(f"{name!r} is not a resource name", "write needs=gpu:1,cpu:2")
        try:
            value = float(amount) if amount.strip() else 1.0
        except ValueError:
            raise AnnotationError(
                f"resource amount {amount!r} for {name!r} is not a number", "write needs=gpu:1"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise AnnotationError(f"resource amount for {name!r} must be positive, got {amount}")
        out[name] = value
    if not out:
        raise AnnotationError("needs= names no resource", "write needs=gpu:1,cpu:2")
    return out


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise AnnotationError(f"{text!r} is not a whole number", "write retries=2") from None
    if value < 0:
        raise AnnotationError(f"retries must be 0 or more, got {value}")
    return value


DEFAULT_PARAMS = ExecParams()
"""The parameters of a task with no annotation (shared: ExecParams is immutable)."""


@dataclass
class AnnotationBuilder:
    """Accumulates annotations of one task; then :meth:`build` makes ExecParams."""

    values: dict[str, object] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    line: int | None = None

    def build(self) -> ExecParams:
        """Return the accumulated parameters.

        Returns:
            The task's execution parameters: the annotations read so far, unset ones
            None, tables copied into read-only mappings.
        """
        v = self.values
        return ExecParams(
            timeout=v.get("timeout"),  # type: ignore[arg-type]
            retries=v.get("retries"),  # type: ignore[arg-type]
            backoff=v.get("backoff"),  # type: ignore[arg-type]
            resources=MappingProxyType(dict(self.resources)),
            env=MappingProxyType(dict(self.env)),
            cwd=v.get("cwd"),  # type: ignore[arg-type]
            allow_failure=v.get("allow_failure"),  # type: ignore[arg-type]
            params=MappingProxyType(dict(self.params)),
            executor=v.get("executor"),  # type: ignore[arg-type]
            line=self.line,
        )


def _timeout(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise AnnotationError(
            f"timeout={text} is no time to run", "give a time above 0, or leave timeout out"
        )
    return seconds


_SCALARS: dict[str, Callable[[str], object]] = {
    "timeout": _timeout,
    "backoff": parse_duration,
    "retries": _non_negative_int,
    "allow_failure": parse_bool,
    "cwd": str,
    "executor": str,
}
_ACTIONS = {
    "run": ActionKind.COMMAND,
    "notebook": ActionKind.NOTEBOOK,
    "callable": ActionKind.CALLABLE,
}


def suggest(name: str, choices: list[str]) -> str | None:
    """Return the closest of ``choices`` to ``name``, if any is close.

    Args:
        name: What was written.
        choices: What exists.

    Returns:
        The best match or None.
    """
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def apply_annotation(builder: AnnotationBuilder, rest: str, line: int) -> list[AnnotationError]:
    """Parse one annotation's ``key=value`` words into ``builder``.

    Args:
        builder: The task's accumulated annotations.
        rest: The text after ``taskexec:``.
        line: The annotation's 1-based line.

    Returns:
        Every problem found in the annotation (empty when it is fine).
    """
    problems: list[AnnotationError] = []
    if builder.line is None:
        builder.line = line
    try:
        plain = not any(c in rest for c in "\"'\\")
        words = rest.split() if plain else shlex.split(rest, comments=False, posix=True)
    except ValueError as exc:
        return [AnnotationError(f"cannot split annotation: {exc}", "close the quote")]
    if not words:
        return [AnnotationError("empty taskexec annotation", "write taskexec: key=value ...")]
    for word in words:
        key, eq, value = word.partition("=")
        key = _normal_key(key.strip())
        if not eq:
            problems.append(
                AnnotationError(
                    f"{word!r} is not key=value", 'write e.g. timeout=5m or run="make test"'
                )
            )
            continue
        try:
            _apply_one(builder, key, value, line)
        except AnnotationError as exc:
            problems.append(exc)
    return problems


def _apply_one(builder: AnnotationBuilder, key: str, value: str, line: int) -> None:
    if key in _SCALARS:
        if key in ("cwd", "executor") and not value.strip():
            raise AnnotationError(f"{key}= needs a value")
        builder.values[key] = _SCALARS[key](value)
    elif key == "needs":
        builder.resources.update(parse_resources(value))
    elif key in _ACTIONS:
        if not value.strip():
            raise AnnotationError(f"{key}= needs a value", KEYS[key])
        kind = _ACTIONS[key]
        if kind is ActionKind.CALLABLE and not _CALLABLE_RE.fullmatch(value.strip()):
            raise AnnotationError(
                f"callable={value} is not module:function", "write callable=package.module:function"
            )
        code = value if kind is ActionKind.COMMAND else None
        target = None if kind is ActionKind.COMMAND else value
        builder.actions.append(Action(kind, code=code, target=target, line=line))
    elif key.startswith(("env.", "param.")):
        prefix, _, name = key.partition(".")
        if not _NAME_RE.match(name):
            raise AnnotationError(
                f"{name!r} is not a valid {prefix} name",
                f"write {prefix}.NAME=value with letters, digits and _",
            )
        (builder.env if prefix == "env" else builder.params)[name] = value
    elif key in ("env", "param"):
        raise AnnotationError(f"{key}= needs a name", f"write {key}.NAME=value")
    else:
        guess = suggest(key, [k.split(".")[0] for k in KEYS])
        hint = f"did you mean {guess!r}?" if guess else None
        known = ", ".join(KEYS)
        raise AnnotationError(f"unknown annotation key {key!r} (known: {known})", hint)


_IDENTIFIERS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_CALLABLE_RE = LazyPattern(rf"{_IDENTIFIERS}:{_IDENTIFIERS}")


def _normal_key(key: str) -> str:
    """Lower-case a key and use ``_``; keep the case of an env/param name."""
    head, dot, name = key.partition(".")
    head = head.lower().replace("-", "_")
    return f"{head}.{name}" if dot else head


def new_builder() -> AnnotationBuilder:
    """Return an empty annotation builder for one task.

    Returns:
        A builder with no annotations read yet.
    """
    return AnnotationBuilder()
