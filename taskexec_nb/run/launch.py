"""The one way a run starts: :func:`start_run` of a :class:`RunRequest`.

:meth:`ExecutionPlan.run <taskexec_nb.plan.ExecutionPlan.run>`,
:meth:`~taskexec_nb.plan.ExecutionPlan.arun` and ``taskexec run`` each describe
the run they want as a :class:`RunRequest`; :func:`start_run` works out its
settings (given whole, or from the configuration with the request's changes),
the run it resumes and the settings that run keeps, and its selection, then
makes the :class:`~taskexec_nb.run.handle.RunHandle` and starts it as asked.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

from taskexec_nb.errors import UsageError
from taskexec_nb.events import Observer
from taskexec_nb.executors import TaskFunction
from taskexec_nb.run.handle import RunHandle
from taskexec_nb.run.resume import find_run, resumed_settings
from taskexec_nb.run.selection import API_NAMES, select_tasks, selector_names
from taskexec_nb.run.session import state_dir_for
from taskexec_nb.settings import RunSettings

if TYPE_CHECKING:
    from taskexec_nb.config import Config
    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.store import RunRecord

StartMode = Literal["block", "thread", "loop", "none"]
"""How :func:`start_run` starts the run.

``block``: run to the end on a worker thread (Ctrl-C stops it gracefully);
``thread``: start it on a worker thread and return; ``loop``: start it on the
running event loop and return (``await handle.started()`` then raises a set-up
error); ``none``: make the handle and start nothing (a dry run's preview, or a
caller that starts it with :func:`start`).
"""

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that stop a run started with ``stop_signals`` as Ctrl-C does."""


@dataclass(frozen=True)
class Resumed:
    """A recorded run to continue, found and checked, with the settings it continues with.

    Attributes:
        run: The run's row in the state store.
        settings: The settings the resume runs with.
        kept: A notice naming the settings kept from the run where they differ
            from the configuration's now (None: none differ).
    """

    run: RunRecord
    settings: RunSettings
    kept: str | None = None

    @property
    def run_id(self) -> str:
        """The resumed run's ID."""
        return self.run.run_id


def find_resumed(
    tasks_file: str | Path,
    settings: RunSettings,
    resume: str | bool,
    *,
    takeover: bool = False,
    given: Mapping[str, object] | None = None,
) -> Resumed:
    """The run a resume continues, and the settings it continues with.

    Args:
        tasks_file: The tasks.md being run, as errors name it.
        settings: The settings worked out for this invocation.
        resume: A run ID; ``True``, ``""`` or ``"latest"`` for this file's newest run.
        takeover: Continue a run marked running on another host whose runner is gone.
        given: The settings given again for the resume (None values: not given); the
            run's own settings are kept for the rest. None keeps ``settings`` whole
            (a settings object given whole keeps all it says).

    Returns:
        The run and its settings.

    Raises:
        UsageError: If there is no such run, it is of another file, or it is still
            running.
    """
    run = find_run(tasks_file, state_dir_for(tasks_file, settings), resume, takeover=takeover)
    if given is None:
        return Resumed(run, settings)
    chosen, kept = resumed_settings(settings, run, given)
    return Resumed(run, chosen, kept)


@dataclass(frozen=True)
class RunRequest:
    """A run as its caller describes it: what to run, how, and how to start it.

    Attributes:
        plan: The plan to run.
        settings: Complete settings; None works them out from the configuration
            (or takes those of ``config``), with ``overrides`` applied.
        only: Task IDs, stories (``US1``) or phases (``phase:3``) to run; a string
            is a comma-separated list.
        from_task: Start at this task, story or phase.
        until: Stop after this task, story or phase.
        resume: A run to continue by ID, or True (or ``"latest"``) for the newest.
        takeover: With ``resume``: continue a run marked running on another host.
        callables: Python functions by task ID, story or ID pattern.
        observers: Extra event observers.
        profile: Config profile (default: the one the plan was loaded with).
        overrides: Settings to change, e.g. ``{"max_workers": 4}``.
        config: The configuration, already worked out (the CLI's): its settings
            and selectors are used; its warnings are the caller's to show.
        resumed: The run to continue, already found (the CLI's, which loads the
            plan in the run's mode).
        names: How selection errors name ``only``, ``from_task`` and ``until``.
        start: How to start the run (see :data:`StartMode`).
        stop_signals: With ``block``: SIGTERM and SIGHUP stop the run as Ctrl-C does.
    """

    plan: ExecutionPlan
    settings: RunSettings | None = None
    only: str | Iterable[str] | None = None
    from_task: str | None = None
    until: str | None = None
    resume: str | bool | None = None
    takeover: bool = False
    callables: Mapping[str, TaskFunction] | None = None
    observers: Iterable[Observer] = ()
    profile: str | None = None
    overrides: Mapping[str, object] = field(default_factory=dict)
    config: Config | None = None
    resumed: Resumed | None = None
    names: Mapping[str, str] = field(default_factory=lambda: dict(API_NAMES))
    start: StartMode = "block"
    stop_signals: bool = False


def start_run(request: RunRequest) -> RunHandle:
    """Make the run a request describes and start it as the request says.

    Args:
        request: The run.

    Returns:
        Its handle: finished for ``block``, running for ``thread`` and ``loop``, not
        started for ``none``.

    Raises:
        UsageError: For bad settings, selections, resources or a run that cannot be
            resumed.
        ValidationError: If the plan has errors (loaded with ``strict=False``).
        KeyboardInterrupt: For ``block``, when interrupted (the run is saved and
            resumable).
    """
    handle = _assemble(request)
    start(handle, request.start, stop_signals=request.stop_signals)
    return handle


def start(handle: RunHandle, mode: StartMode, *, stop_signals: bool = False) -> None:
    """Start a run made by :func:`start_run` with ``start="none"``.

    Args:
        handle: The run, not started yet.
        mode: How to start it (see :data:`StartMode`).
        stop_signals: With ``block``: SIGTERM (a CI job's timeout, kill) and SIGHUP
            (the terminal closed) stop the run as Ctrl-C does: its running tasks
            are ended and it can be resumed. One this process ignores (``nohup``
            ignores SIGHUP) stays ignored.

    Raises:
        KeyboardInterrupt: For ``block``, when interrupted.
    """
    if mode == "thread":
        handle.start_in_thread()
    elif mode == "loop":
        handle.start_on_loop()
    elif mode == "block":
        if not stop_signals:
            handle.run_blocking()
            return
        # A signal the runner was started with ignored stays ignored: nohup (or
        # `trap '' HUP`) ignores SIGHUP so that closing the terminal does not end
        # the run.
        previous = {
            sig: handler
            for sig in STOP_SIGNALS
            if (handler := signal.getsignal(sig)) != signal.SIG_IGN
        }
        for sig in previous:
            signal.signal(sig, _raise_interrupt)
        try:
            handle.run_blocking()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _assemble(request: RunRequest) -> RunHandle:
    """The request's run, made and not started: its settings, resumed run and selection."""
    plan = request.plan
    plan.check_runnable()
    resume, takeover = request.resume, request.takeover
    if not (resume is None or isinstance(resume, (str, bool))):
        raise UsageError(f"resume must be a run ID, True (the latest run) or None: {resume!r}")
    only: object = request.only
    if isinstance(only, Iterable) and not isinstance(only, str):
        only = list(only)  # a generator is read once: here, not by the check below
    observers: object = request.observers
    if isinstance(observers, Iterable):
        observers = list(observers)
    _check_run_arguments(
        plan, request.settings, only, request.callables, observers, request.overrides
    )
    assert isinstance(observers, list)  # checked: a list of functions
    selectors = _Selectors(_strings_or_none(only), request.from_task, request.until)
    given = selectors.values()
    config = request.config
    resolved_here = False
    from_config: list[str] = []
    if request.settings is not None:
        chosen = request.settings.with_overrides(**request.overrides)
    else:
        if config is None:
            from taskexec_nb.config import resolve
            from taskexec_nb.paths import is_text_path

            config = resolve(
                None if is_text_path(plan.path) else plan.path,
                profile=request.profile or plan.profile,
                arguments=request.overrides,
            )
            resolved_here = True
        chosen = config.settings
        # Each selector not given here comes from the configuration (as in the CLI).
        from_config = [k for k, v in zip(API_NAMES, given, strict=True) if v is None]
        selectors = selectors.or_from(config)
    resuming = request.resumed is not None or not (resume is None or resume is False)
    if takeover and not resuming:
        raise UsageError("takeover= goes with resume= (it takes over a run to continue it)")
    resumed = request.resumed
    selection: list[str] | None = None
    if resuming:
        if any(v is not None for v in given):
            raise UsageError(
                "resume= continues the run's own selection: leave out only=, from_task= "
                "and until= (or start a new run with them)"
            )
        if resumed is None:
            assert resume is not None and resume is not False
            kept_whole = request.settings is not None
            resumed = find_resumed(
                plan.path,
                chosen,
                resume,
                takeover=takeover,
                given=None if kept_whole else request.overrides,
            )
        chosen = resumed.settings
    else:
        names = selector_names(request.names, config.sources if config else {}, from_config)
        selection = select_tasks(
            plan, selectors.only, selectors.from_task, selectors.until, names=names
        )
    handle = RunHandle(
        plan,
        chosen,
        selection=selection,
        resume=resumed.run_id if resumed is not None else None,
        takeover=bool(takeover),
        callables=request.callables,
        observers=observers,
        config=config,
    )
    if resumed is not None and resumed.kept:
        handle.notices.append(resumed.kept)
    if resolved_here and config is not None and config.warnings:
        for warning in config.warnings:  # as the CLI prints them: a misspelt TASKEXEC_*
            handle.notices.append(warning)
            # shown at the line that called plan.run() (or arun())
            warnings.warn(warning, UserWarning, stacklevel=4)
    return handle


@dataclass(frozen=True)
class _Selectors:
    """``only``, ``from_task`` and ``until``, as given or from the configuration."""

    only: Sequence[str] | str | None
    from_task: str | None
    until: str | None

    def values(self) -> tuple[object, object, object]:
        return (self.only, self.from_task, self.until)

    def or_from(self, config: Config) -> _Selectors:
        """Each selector not given, from the configuration.

        Args:
            config: The resolved configuration (its ``only``, ``from_task`` and ``until``).

        Returns:
            The selectors given here, the configuration's where one is None.
        """
        return _Selectors(
            config.only if self.only is None else self.only,
            config.from_task if self.from_task is None else self.from_task,
            config.until if self.until is None else self.until,
        )

    def __post_init__(self) -> None:
        if isinstance(self.only, str):  # a comma-separated list
            object.__setattr__(self, "only", [s for s in self.only.split(",") if s.strip()])


def _strings_or_none(value: object) -> Sequence[str] | str | None:
    """``only`` once checked: None, a string or a list of strings."""
    if value is None or isinstance(value, str):
        return value
    assert isinstance(value, list)
    return [str(v) for v in value]


def _strings(value: object) -> bool:
    return isinstance(value, Iterable) and all(isinstance(v, str) for v in value)


def _check_run_arguments(
    plan: ExecutionPlan,
    settings: object,
    only: object,
    callables: object,
    observers: object,
    overrides: Mapping[str, object],
) -> None:
    """Refuse arguments of the wrong kind with a message naming them.

    Raises:
        UsageError: For the first wrong argument.
    """
    if settings is not None and not isinstance(settings, RunSettings):
        raise UsageError(
            f"settings must be a RunSettings, not {type(settings).__name__}; pass single "
            "settings as keywords instead, e.g. run(max_workers=2)"
        )
    if "mode" in overrides and overrides["mode"] != plan.mode.value:
        raise UsageError(
            f"mode={overrides['mode']!r}: the dependency mode is chosen when the plan is "
            f"loaded (this one uses {plan.mode.value!r}); use load(path, mode=...)"
        )
    if not (only is None or isinstance(only, str) or _strings(only)):
        raise UsageError(
            f"only must be a string or a list of task IDs, stories or phases, not {only!r}"
        )
    if callables is not None:
        if not isinstance(callables, Mapping):
            raise UsageError(
                "callables must map task IDs, stories or ID patterns to functions, e.g. "
                f"{{'T001': fn}}, not {type(callables).__name__}"
            )
        for key, fn in callables.items():
            if not isinstance(key, str) or not callable(fn):
                raise UsageError(f"callables[{key!r}] must be a function named by a string")
    if not isinstance(observers, Iterable) or not all(callable(o) for o in observers):
        raise UsageError(f"observers must be a list of functions that take an event: {observers!r}")
