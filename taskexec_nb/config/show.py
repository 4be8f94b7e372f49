"""``taskexec config show``: the effective settings, each with the source it came from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taskexec_nb.secrets import mask_env

if TYPE_CHECKING:
    from taskexec_nb.config.layering import Config
    from taskexec_nb.settings import RunSettings


def show_dict(config: Config) -> dict[str, Any]:
    """Every effective setting with its source, secrets masked (for JSON).

    Args:
        config: The effective configuration.

    Returns:
        ``file``, ``profile``, ``settings`` and ``env`` (each name to its value
        and source), ``overrides`` and ``warnings``.
    """
    return {
        "file": str(config.file) if config.file else None,
        "profile": config.profile,
        "settings": {
            name: {"value": value, "source": config.sources.get(name, "default")}
            for name, value in config.values().items()
        },
        "env": {
            name: {"value": value, "source": config.sources.get(f"env.{name}", "default")}
            for name, value in _display_env(config.settings).items()
        },
        "overrides": config.settings.to_dict()["overrides"],
        "warnings": list(config.warnings),
    }


def show_text(config: Config) -> str:
    """A readable table of the effective settings and their sources.

    Args:
        config: The effective configuration.

    Returns:
        The file and profile used, one line per setting (``SETTING VALUE
        SOURCE``), one per ``env`` variable, one per override, and the warnings.
    """
    lines = [
        f"config file: {config.file or 'none (defaults)'}",
        f"profile: {config.profile or 'none'}",
        "",
    ]
    rows = [
        (name, _fmt(value), config.sources.get(name, "default"))
        for name, value in config.values().items()
    ]
    rows += [
        (f"env.{name}", _fmt(value), config.sources.get(f"env.{name}", "default"))
        for name, value in _display_env(config.settings).items()
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = min(40, max(len(r[1]) for r in rows))
    lines.append(f"{'SETTING':<{width}}  {'VALUE':<{vwidth}}  SOURCE")
    lines += [f"{n:<{width}}  {v:<{vwidth}}  {s}" for n, v, s in rows]
    for o in config.settings.to_dict()["overrides"]:
        selector = ", ".join(
            f"{k}={','.join(o[key])}"
            for k, key in (("phase", "phases"), ("story", "stories"), ("tasks", "tasks"))
            if o[key]
        )
        lines.append(f"override [{selector}]: {_fmt(o['settings'])}  ({o['source']})")
    lines += [f"warning: {w}" for w in config.warnings]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "(not set)"  # a table for people; --json keeps null
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _display_env(settings: RunSettings) -> dict[str, str]:
    return dict(sorted(mask_env(settings.env, settings.secrets).items()))
