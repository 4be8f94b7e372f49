"""Configuration: settings from files, profiles, the environment and arguments.

:mod:`~taskexec_nb.config.files` finds and reads the config file,
:mod:`~taskexec_nb.config.checks` checks it against the settings' declarations,
:mod:`~taskexec_nb.config.layering` puts the layers together (:func:`resolve`),
:mod:`~taskexec_nb.config.overrides` applies ``[[overrides]]`` to tasks,
:mod:`~taskexec_nb.config.flags` derives the ``taskexec run`` flags and
:mod:`~taskexec_nb.config.show` prints ``taskexec config show``.
"""

from taskexec_nb.config.files import (
    CONFIG_FILE,
    PYPROJECT,
    ConfigFile,
    find_config,
    read_config,
)
from taskexec_nb.config.layering import ENV_PREFIX, PROFILE_VAR, SCALAR_SETTINGS, Config, resolve
from taskexec_nb.config.overrides import Override, ResolvedTask, apply_overrides, resolve_task

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "PROFILE_VAR",
    "PYPROJECT",
    "SCALAR_SETTINGS",
    "Config",
    "ConfigFile",
    "Override",
    "ResolvedTask",
    "apply_overrides",
    "find_config",
    "read_config",
    "resolve",
    "resolve_task",
]
