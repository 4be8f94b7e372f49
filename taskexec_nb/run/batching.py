"""Observer work on a timer: a view redraws at most once per interval, never per output line.

:class:`Batched` gathers a run's events and hands them to a view in batches on a
:class:`Ticker` thread; the terminal view redraws its status line on a Ticker too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from taskexec_nb.events import Event, EventKind


class Ticker:
    """Calls ``callback`` every ``interval`` seconds on a daemon thread, until stopped.

    Args:
        callback: What to call (on the ticker's thread).
        interval: Seconds between calls.
        name: The thread's name.

    Raises:
        ValueError: If ``interval`` is not above 0.
    """

    def __init__(self, callback: Callable[[], None], interval: float, name: str = "taskexec-tick"):
        if not interval > 0:
            raise ValueError(f"interval {interval!r}: give a number of seconds above 0")
        self.callback = callback
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        """Whether :meth:`halt` or :meth:`stop` was called since the last start."""
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def current(self) -> bool:
        """Whether the caller runs on the ticker's thread.

        Returns:
            True within ``callback`` as the ticker calls it.
        """
        return self._thread is threading.current_thread()

    def start(self) -> None:
        """Start ticking (nothing if it ticks already)."""
        if self.running:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.callback()

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Make this the last tick (without waiting for the thread)."""
        self._stop.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop ticking and wait (at most ``timeout`` s) for a call in progress to end.

        Args:
            timeout: Seconds to wait for the thread.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


class Batched:
    """An observer that hands the events to ``view`` in batches, at most once per ``interval``.

    Events are only gathered as they come (no work per output line); every
    ``interval`` seconds a timer thread calls ``view`` with the events gathered
    since the last call, if any. The run's end (``run_finished``) or
    :meth:`close` delivers what is left at once. A view typically ignores the
    events and draws ``model.snapshot()`` of a :class:`RunModel` subscribed
    before it.

    A view that raises is not called again; the next event then raises its
    error, so the event bus removes this observer and says so in a notice.

    Args:
        view: Called with a non-empty list of events (or, with ``idle``, any list).
        interval: Seconds between calls.
        idle: Call ``view`` every interval even without new events (a clock).
        dispatch: Run each call through this (e.g. ``loop.call_soon_threadsafe``
            to draw on an event loop's thread); default: on the timer's thread.
    """

    def __init__(
        self,
        view: Callable[[list[Event]], None],
        interval: float = 0.25,
        *,
        idle: bool = False,
        dispatch: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.view = view
        self.idle = idle
        self.dispatch = dispatch
        self.calls = 0
        self.error: BaseException | None = None
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._drawing = threading.Lock()  # one call at a time, in order
        self._ticker = Ticker(self.flush, interval, name="taskexec-view")

    def __call__(self, event: Event) -> None:
        """Gather one event (observer entry point).

        Args:
            event: The event.

        Raises:
            RuntimeError: If the view failed on an earlier batch.
        """
        if self.error is not None:
            raise RuntimeError(f"the view failed: {self.error!r}") from self.error
        with self._lock:
            self._pending.append(event)
        if event.kind is EventKind.RUN_FINISHED:
            self.close()
        elif not self._ticker.running and not self._ticker.stopped:
            self._ticker.start()

    def flush(self) -> None:
        """Call the view now with the events gathered so far (if any, or if ``idle``)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if (batch or self.idle) and self.error is None:
            if self.dispatch is not None:
                self.dispatch(lambda: self._draw(batch))
            else:
                self._draw(batch)

    def _draw(self, batch: list[Event]) -> None:
        with self._drawing:
            if self.error is not None:
                return
            self.calls += 1
            try:
                self.view(batch)
            except Exception as exc:
                self.error = exc
                self._ticker.halt()
                if not self._ticker.current():  # else: the next event reports it
                    raise

    def close(self) -> None:
        """Stop the timer and deliver what is left (the view's last call)."""
        self._ticker.stop()
        self.flush()
