"""Configuration: settings from files, profiles, the environment and arguments.

:mod:`~taskexec_nb.config.files` finds and reads the config file,
:mod:`~taskexec_nb.config.checks` checks it against the settings' declarations,
:mod:`~taskexec_nb.config.layering` puts the layers together (:func:`resolve`),
:mod:`~taskexec_nb.config.overrides` applies ``[[overrides]]`` to tasks,
:mod:`~taskexec_nb.config.flags` derives the ``taskexec run`` flags and
:mod:`~taskexec_nb.config.show` prints ``taskexec config show``.
"""

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskexec_nb.config.files import (
        CONFIG_FILE,
        ENV_PREFIX,
        PROFILE_VAR,
        PYPROJECT,
        ConfigFile,
        find_config,
        read_config,
    )
    from taskexec_nb.config.layering import (
        SCALAR_SETTINGS,
        Config,
        resolve,
    )
    from taskexec_nb.config.overrides import (
        Override,
        ResolvedTask,
        apply_overrides,
        resolve_task,
    )

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


def __getattr__(name: str) -> Any:
    """The names of the package's modules, imported on first use.

    ``taskexec --help`` reads :mod:`.flags` (the settings' declarations); this keeps
    that from loading the config file reader and the layering.

    Args:
        name: The attribute.

    Returns:
        Its value.

    Raises:
        AttributeError: If the package has no such name.
    """
    module: ModuleType
    if name in (
        "CONFIG_FILE",
        "ENV_PREFIX",
        "PROFILE_VAR",
        "PYPROJECT",
        "ConfigFile",
        "find_config",
        "read_config",
    ):
        from taskexec_nb.config import files as module
    elif name in ("SCALAR_SETTINGS", "Config", "resolve"):
        from taskexec_nb.config import layering as module
    elif name in ("Override", "ResolvedTask", "apply_overrides", "resolve_task"):
        from taskexec_nb.config import overrides as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
