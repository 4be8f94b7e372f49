"""The ``taskexec`` command's exit codes, defined once for every command."""

EXIT_OK = 0
"""Success."""
EXIT_TASKS_FAILED = 1
"""``run``: a task failed."""
EXIT_USAGE = 2
"""A usage, configuration or validation error."""
EXIT_INCOMPLETE = 3
"""``run``: tasks were skipped because nothing could run them."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C, SIGTERM)."""
EXIT_BROKEN_PIPE = 141
"""The reader of the output went away (``taskexec plan x.md | head``)."""

EPILOG = (
    "Exit codes: 0 ok, 1 task failures, 2 usage or validation error, 3 incomplete "
    "(tasks skipped: nothing could run them), 130 interrupted."
)
"""The exit codes in ``taskexec --help``."""
