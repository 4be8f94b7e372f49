"""Control of a running attempt's process group: pause, resume, stop, timeout.

Executors that start a process attach its group to the attempt's
:class:`ProcessControl`; the scheduler pauses, resumes and cancels through it,
and a timeout or a cancel ends the group: SIGTERM, then SIGKILL after
``kill_grace``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping

from taskexec_nb._procfs import signal_attempt


class ProcessControl:
    """The process group of a running attempt, for pause, resume and stop.

    Executors that start a process call :meth:`attach`; the scheduler calls
    :meth:`suspend`, :meth:`resume` and :meth:`stop`.
    """

    def __init__(
        self,
        on_attach: Callable[[int], None] | None = None,
        on_detach: Callable[[int], None] | None = None,
    ) -> None:
        self.pgid: int | None = None
        self.active = False
        self.cancelled = False
        self.suspended = False
        self._suspended_since = 0.0
        self._suspended_total = 0.0
        self._on_attach = on_attach
        self._on_detach = on_detach
        self.stop_requested = asyncio.Event()
        self._on_stop: list[Callable[[], None]] = []
        #: The attempt's environment, whose marks find its processes outside the group
        #: (a session of their own, as a notebook's kernel): they are paused with it.
        self.marks: Mapping[str, str] | None = None

    def attach(self, pgid: int) -> None:
        """Record the process group of the attempt's process.

        Args:
            pgid: The process group the attempt's process leads; later signals go to
                the whole group.
        """
        self.pgid = pgid
        self.active = True
        if self._on_attach:
            self._on_attach(pgid)

    def detach(self) -> None:
        """Forget the process group once its leader has exited."""
        if self.pgid is not None and self._on_detach:
            self._on_detach(self.pgid)
        self.active = False  # the number may be reused: no more signals to it

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the whole process group; False if it is gone.

        Args:
            signum: The signal, e.g. ``signal.SIGTERM``.

        Returns:
            True if the signal was sent; False when no group is attached, the attempt
            has ended or the group no longer exists.
        """
        if self.pgid is None or not self.active:
            return False
        try:
            os.killpg(self.pgid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def suspend(self) -> None:
        """Stop (SIGSTOP) the process group, and the attempt's processes outside it."""
        if not self.suspended and self.signal(signal.SIGSTOP):
            self._signal_marked(signal.SIGSTOP)
            self.suspended = True
            self._suspended_since = time.monotonic()

    def resume(self) -> None:
        """Continue (SIGCONT) the process group, and the attempt's processes outside it."""
        if self.suspended:
            self.signal(signal.SIGCONT)
            self._signal_marked(signal.SIGCONT)
            self.suspended = False
            self._suspended_total += time.monotonic() - self._suspended_since

    def _signal_marked(self, sig: int) -> None:
        if self.marks is not None:
            signal_attempt(self.marks, sig)

    def suspended_time(self) -> float:
        """Seconds the process group has spent suspended (not counted in its timeout).

        Returns:
            The total time spent suspended, including a suspension still going on.
        """
        extra = time.monotonic() - self._suspended_since if self.suspended else 0.0
        return self._suspended_total + extra

    def cancel(self) -> None:
        """Ask the attempt to end; the executor stops its process group."""
        self.cancelled = True
        self.stop_requested.set()
        for callback in list(self._on_stop):
            callback()

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the loop's thread) when a stop is requested.

        Args:
            callback: A function with no arguments, called once per stop request.

        Returns:
            A function that removes the callback again.
        """
        self._on_stop.append(callback)

        def remove() -> None:
            if callback in self._on_stop:
                self._on_stop.remove(callback)

        return remove

    async def terminate(self, exited: asyncio.Future[None], grace: float) -> None:
        """SIGTERM the process group, then SIGKILL it after the grace period.

        Args:
            exited: Done when the group's leader has exited.
            grace: Seconds between SIGTERM and SIGKILL (``kill_grace``).
        """
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a suspended group must run to handle SIGTERM
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=grace)
        except asyncio.TimeoutError:
            self.signal(signal.SIGKILL)
            await exited

    async def wait_exit(
        self, exited: asyncio.Future[None], timeout: float | None, grace: float
    ) -> str:
        """Wait for exit, a stop request or the timeout (suspended time does not count).

        A stop request or the timeout ends the group (:meth:`terminate`).

        Args:
            exited: Done when the group's leader has exited.
            timeout: Seconds the attempt may take (None: no limit).
            grace: Seconds between SIGTERM and SIGKILL (``kill_grace``).

        Returns:
            "exited", "cancelled" or "timed_out".
        """
        if exited.done():
            return "exited"
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()

        def poke(*_: object) -> None:
            """Wake the wait to look again: exit, a stop request or the timer.

            Args:
                *_: Whatever the caller passes (the done ``exited`` future from
                    its callback, nothing from a stop request or the timer), ignored.
            """
            if not wake.done():
                wake.set_result(None)

        exited.add_done_callback(poke)
        unsubscribe = self.on_stop(poke)
        start, suspended_at_start = time.monotonic(), self.suspended_time()
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                if exited.done():
                    return "exited"
                if self.stop_requested.is_set():
                    await self.terminate(exited, grace)
                    return "cancelled"
                if timeout is not None:
                    used = (time.monotonic() - start) - (self.suspended_time() - suspended_at_start)
                    if used >= timeout and not self.suspended:
                        await self.terminate(exited, grace)
                        return "timed_out"
                    # While suspended the clock stands still: look again a little later.
                    timer = loop.call_later(max(timeout - used, 0.05), poke)
                await wake
                wake = loop.create_future()
                if timer is not None:
                    timer.cancel()
        finally:
            if timer is not None:
                timer.cancel()
            exited.remove_done_callback(poke)
            unsubscribe()
