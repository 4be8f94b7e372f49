"""The run dashboard: the rich display of a run handle in a notebook (ipywidgets).

:class:`Dashboard` shows a run's overall progress in words (done/total, failed,
skipped, elapsed, ETA), its progress per phase and per story, the running tasks
with their elapsed time and last output line, the failures with their error and
output tail, Pause / Resume / Cancel / Retry-failed buttons, and a live Gantt and
DAG (plotly ``FigureWidget``, drawn by :mod:`taskexec_nb.figures`) updated in place.

It reads the run's live model (:attr:`RunHandle.model
<taskexec_nb.run.handle.RunHandle.model>`, one consistent snapshot per redraw) and
redraws on a timer (:class:`~taskexec_nb.run.batching.Batched`), never once per
event; the figures redraw only while their tab is open, at most every few seconds
(less often when drawing them costs more), so a 1,000-task run keeps its pace.

Next to the widget, the display carries a static HTML summary with a static figure
(:func:`~taskexec_nb.jupyter.runsummary.summary_html`), updated when the run ends: a
front end without widgets (papermill, nbconvert, GitHub's viewer) shows that.

A blocking ``plan.run()`` in a cell shows the same progress without buttons (the
busy kernel cannot take their clicks) and says how to get them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import TaskexecError
from taskexec_nb.events import Event, EventKind
from taskexec_nb.figures import alt_text
from taskexec_nb.run.batching import Batched
from taskexec_nb.run.live import RunModel
from taskexec_nb.run.rows import RunSnapshot

from . import runsummary as summary

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from taskexec_nb.run.handle import RunHandle

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CONTROLS_NOTE = (
    "This cell keeps the kernel busy, so it cannot take button clicks: start the run "
    "with %run_tasks or run = await plan.arun() for Pause / Resume / Cancel / Retry-failed."
)
FIGURE_DUTY = 0.05
"""At most this share of the time goes to redrawing a live figure."""

END_TRIES = 100
"""Redraws 50 ms apart that wait for the live model to have the run's end."""

_TABS = ("Overview", "Timeline", "Dependencies")
_GANTT, _DAG = 1, 2


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (IPython with a kernel), not a terminal.

    Returns:
        True in a notebook's kernel.
    """
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display_run(handle: RunHandle) -> None:
    """Display a run: its dashboard in a kernel, its one-line repr elsewhere.

    Args:
        handle: The run.
    """
    from IPython.display import display

    if in_kernel():
        handle.dashboard().show()
    else:
        display({"text/plain": repr(handle)}, raw=True)  # type: ignore[no-untyped-call]


def show_blocking(handle: RunHandle) -> Dashboard | None:
    """Show a blocking run's progress in the cell running it (no buttons), in a kernel only.

    Args:
        handle: The run, about to run blocking.

    Returns:
        The dashboard shown (call its :meth:`Dashboard.close` when the run has
        ended), or None outside a kernel.
    """
    if not in_kernel():
        return None
    shown = Dashboard(handle, controls=False)
    shown.show()
    return shown


class Dashboard:
    """A run's live dashboard (an ipywidgets ``VBox`` in :attr:`widget`).

    Display it (or the run handle) in a notebook. Its buttons act on the run it
    is bound to (:attr:`handle`); Retry-failed binds it to the resumed run.

    Args:
        handle: The run.
        controls: Show the buttons and the figure tabs (False: progress only, for
            a run the kernel blocks on).
        interval: Seconds between redraws.
        figure_interval: Seconds between redraws of an open figure tab, at least.

    Attributes:
        handle: The run shown (the resumed one after a retry).
        widget: The whole dashboard (CSS class ``te-dashboard``).
        draws: How many times it has redrawn.
        figure_draws: How many times it has redrawn a live figure.
        message: The last thing a button did, or the error it met.
    """

    def __init__(
        self,
        handle: RunHandle,
        *,
        controls: bool = True,
        interval: float = 0.5,
        figure_interval: float = 2.0,
    ) -> None:
        import ipywidgets as w

        self.controls = controls
        self.interval = interval
        self.figure_interval = figure_interval
        self.note = None if controls else CONTROLS_NOTE
        self.message = ""
        self.draws = 0
        self.figure_draws = 0
        self._lock = threading.RLock()
        self._displays: list[Any] = []  # IPython display handles, updated at the end
        self._unsubscribe: Callable[[], None] | None = None
        self._batched: Batched | None = None
        self._deps: dict[str, tuple[str, ...]] | None = None
        self._ended_shown = False
        self._starting: asyncio.Future[None] | None = None  # a retry starting on the loop
        self._figures: dict[int, go.FigureWidget] = {}
        self._captions: dict[int, ipywidgets.HTML] = {}
        self._labels: dict[int, Any] = {}  # each figure panel's accessible name
        self._figure_due: dict[int, float] = {}
        self._figure_version: dict[int, int] = {}

        self.title = w.HTML().add_class("te-title")
        self.header = w.HTML().add_class("te-header")
        self.notice = w.HTML().add_class("te-message")
        self.groups = w.HTML().add_class("te-progress")
        self.running = w.HTML()
        self.failures = w.HTML()
        overview = w.VBox([self.groups, self.running, self.failures]).add_class("te-overview")
        parts: list[w.Widget] = [self.title, self.header, self.notice]
        self.buttons: dict[str, w.Button] = {}
        if controls:
            self.buttons = {
                "pause": self._button(
                    "Pause", "pause", "Pause the run: no new task starts; running tasks go on"
                ),
                "resume": self._button("Resume", "play", "Resume the paused run"),
                "cancel": self._button(
                    "Cancel",
                    "stop",
                    "Cancel the run: running tasks are stopped, the rest recorded as cancelled",
                ),
                "retry": self._button(
                    "Retry failed",
                    "redo",
                    "Resume the ended run: its failed tasks, and those held up by them, run again",
                ),
            }
            self.buttons["pause"].on_click(lambda _b: self.pause())
            self.buttons["resume"].on_click(lambda _b: self.resume())
            self.buttons["cancel"].on_click(lambda _b: self.cancel())
            self.buttons["retry"].on_click(lambda _b: self.retry())
            parts.append(w.HBox(list(self.buttons.values())).add_class("te-controls"))
            boxes = [
                overview,
                w.VBox().add_class("te-gantt").add_class("te-figure-panel"),
                w.VBox().add_class("te-dag").add_class("te-figure-panel"),
            ]
            self.tabs: w.Tab | None = w.Tab(children=boxes, titles=_TABS).add_class("te-tabs")
            self.tabs.observe(self._tab_changed, names="selected_index")
            parts.append(self.tabs)
        else:
            self.tabs = None
            parts.append(overview)
        self.widget = w.VBox(parts).add_class("te-dashboard")
        self.handle = handle
        self.bind(handle)

    @staticmethod
    def _button(label: str, icon: str, tip: str) -> ipywidgets.Button:
        import ipywidgets as w

        button = w.Button(description=label, tooltip=tip, icon=icon, disabled=True)
        return button.add_class(f"te-{label.split()[0].lower()}")

    # -- binding -----------------------------------------------------------------------------
    def bind(self, handle: RunHandle) -> None:
        """Show ``handle``'s run from now on (what Retry-failed does with the resumed run).

        Args:
            handle: The run.
        """
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
            if self._batched is not None:
                self._batched.close()
            self.handle = handle
            handle._dashboard = self
            self._deps = None
            self._ended_shown = False
            self._figure_due.clear()
            self._figure_version.clear()
            batched = Batched(lambda events: self._tick(handle, events), self.interval, idle=True)
            self._batched = batched
            self._unsubscribe = handle.subscribe(batched, replay=True)
        self.refresh()

    def close(self) -> None:
        """Stop redrawing and draw the run's state once more (its end, for a finished run)."""
        with self._lock:
            if self._batched is not None:
                self._batched.close()
        self.refresh()

    def awaited(self, handle: RunHandle) -> None:
        """Draw the end of ``handle``'s run now, as ``await handle`` returns.

        The timer would draw it up to an interval later, after the cell awaiting
        the run has ended: a front end that takes updates only during a cell
        (papermill's, nbconvert's) would then keep the run's first summary when
        that cell is the notebook's last. Drawn here, the final summary goes out
        with the awaiting cell. A dashboard that follows another run (Retry
        failed) is left alone, and a drawing error is shown in the dashboard.

        Args:
            handle: The run that ended.
        """
        if handle is not self.handle:
            return
        try:
            self.refresh()
        except Exception as exc:  # never turns the end of a run into an error
            self.notice.value = f"<p>dashboard error: {summary._e(repr(exc))}</p>"

    # -- drawing -----------------------------------------------------------------------------
    def _tick(self, handle: RunHandle, events: list[Event], tries: int = 0) -> None:
        """A redraw from the timer (or the run's end); not for a run no longer shown.

        The run's end can reach the dashboard before the live model (it may have
        subscribed first): then the last redraw follows once the model has it.
        """
        if handle is not self.handle:
            return
        try:
            # In no cell's context: what it sends goes with the cell running now (a
            # kernel's fallback), not the one that started the run (the run's task's).
            contextvars.Context().run(self.refresh)
        except Exception as exc:  # a drawing error is shown, never kills the timer
            self.notice.value = f"<p>dashboard error: {summary._e(repr(exc))}</p>"
            return
        finished = any(e.kind is EventKind.RUN_FINISHED for e in events)
        if finished and not self._ended_shown and tries < END_TRIES:
            later = threading.Timer(0.05, self._tick, (handle, events, tries + 1))
            later.daemon = True
            later.start()

    def snapshot(self) -> RunSnapshot:
        """The run now, from its live model (all tasks pending before it has started).

        Returns:
            One consistent snapshot.
        """
        model = self.handle.model
        if model is None:
            model = RunModel.for_plan(self.handle.plan, self.handle.selection or None)
        return model.snapshot()

    def refresh(self) -> None:
        """Redraw everything from one snapshot of the run (any thread)."""
        with self._lock:
            handle = self.handle
            snap = self.snapshot()
            now = time.time()
            ov = summary.overview(snap, now)
            self.title.value = f"<h3 class='te-run'>Run {summary._e(handle.run_id)}</h3>"
            self.header.value = summary.header_html(ov) + (
                f"<p class='te-note'>{summary._e(self.note)}</p>" if self.note else ""
            )
            self.notice.value = (
                f"<p role='status'>{summary._e(self.message)}</p>" if self.message else ""
            )
            self.groups.value = summary.groups_html(snap, "phase") + summary.groups_html(
                snap, "story"
            )
            self.running.value = "" if ov.ended else summary.running_html(snap, now)
            self.failures.value = summary.failures_html(snap) + summary.notices_html(snap.notices)
            self._enable(ov)
            if self.tabs is not None and self.tabs.selected_index in (_GANTT, _DAG):
                self._draw_figure(self.tabs.selected_index, snap, force=ov.ended)
            self.draws += 1
            if ov.ended and not self._ended_shown:
                self._ended_shown = True
                self._update_displays()

    def _enable(self, ov: summary.Overview) -> None:
        if not self.buttons:
            return
        state = ov.state
        self.buttons["pause"].disabled = state != "running"
        self.buttons["resume"].disabled = state != "paused"
        self.buttons["cancel"].disabled = state not in ("running", "paused")
        self.buttons["retry"].disabled = not (ov.ended and ov.failed)

    def _tab_changed(self, change: dict[str, Any]) -> None:
        index = change.get("new")
        if index in (_GANTT, _DAG):
            with self._lock:
                self._draw_figure(int(index), self.snapshot(), force=True)

    def figure(self, index: int) -> go.FigureWidget:
        """The live figure of tab ``index`` (1: the Gantt, 2: the DAG), made on first use.

        Args:
            index: The tab.

        Returns:
            Its ``FigureWidget``.
        """
        fig = self._figures.get(index)
        if fig is None:
            import ipywidgets as w
            import plotly.graph_objects as go

            from .livefigs import figure_label

            fig = self._figures[index] = go.FigureWidget()
            fig.add_class("te-figure")
            caption = self._captions[index] = w.HTML().add_class("te-caption")
            label = self._labels[index] = figure_label()
            assert self.tabs is not None
            self.tabs.children[index].children = (caption, fig, label)
        return fig

    def _draw_figure(self, index: int, snap: RunSnapshot, force: bool = False) -> None:
        """Redraw a figure in place, when due (or ``force``) and the run changed since."""
        now = time.monotonic()
        busy = bool(snap.running())
        if not force and now < self._figure_due.get(index, 0.0):
            return
        if self._figure_version.get(index) == snap.version and not busy:
            return
        model = self.handle.model or RunModel.for_plan(self.handle.plan)
        from . import livefigs

        started = time.perf_counter()
        fig = self.figure(index)
        name = f"run {self.handle.run_id}"
        if index == _GANTT:
            livefigs.gantt(model, snap, fig, title=f"Timeline of {name}")
        else:
            if self._deps is None:
                self._deps = self.handle.plan.effective_deps([r.id for r in snap.tasks])
            livefigs.dag(snap, self._deps, fig, title=f"Dependencies of {name}")
        alt = alt_text(fig)
        # The panel's accessible name (no tooltip on the plot: ipywidgets' front end
        # would read a description it lacks).
        self._labels[index].label = alt
        self._captions[index].value = f"<p class='te-caption-text'>{summary._e(alt)}</p>"
        cost = time.perf_counter() - started
        self._figure_due[index] = now + max(self.figure_interval, cost / FIGURE_DUTY)
        self._figure_version[index] = snap.version
        self.figure_draws += 1

    # -- controls ----------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.message = text
        self.notice.value = f"<p role='status'>{summary._e(text)}</p>"

    def pause(self) -> None:
        """Pause the run (what the Pause button does): no new task starts."""
        self.handle.pause()
        self._say(f"pause sent to run {self.handle.run_id}")
        if self.buttons:
            self.buttons["pause"].disabled = True

    def resume(self) -> None:
        """Resume the paused run (what the Resume button does)."""
        self.handle.resume()
        self._say(f"resume sent to run {self.handle.run_id}")
        if self.buttons:
            self.buttons["resume"].disabled = True

    def cancel(self) -> None:
        """Cancel the run (what the Cancel button does)."""
        self.handle.cancel()
        self._say(f"cancel sent to run {self.handle.run_id}")
        if self.buttons:
            for name in ("pause", "resume", "cancel"):
                self.buttons[name].disabled = True

    def retry(self, timeout: float = 60.0) -> RunHandle | None:
        """Resume the ended run so its failed tasks run again, and show that run.

        What the Retry-failed button does: ``plan.arun(settings, resume=RUN)`` with
        the run's own settings, callables and observers (the one start path): the
        failed tasks, and those skipped or cancelled because of them, run again. On
        the running event loop when there is one (a kernel's, where clicks arrive):
        the dashboard shows the resumed run once it has started. Elsewhere on a new
        thread with its own loop, once it has started.

        Args:
            timeout: Without a running loop: seconds to wait for the start at most.

        Returns:
            The resumed run's handle when started here without a loop; None on the
            loop (see :attr:`handle` once started) or when it could not start (the
            reason is in :attr:`message`).
        """
        old = self.handle
        if not old.done:
            self._say(f"retry not started: run {old.run_id} is still going")
            return None
        resumed = old.plan.arun(
            old.settings,
            resume=old.run_id,
            callables=old.registry.callables.functions or None,
            observers=old.observers,
        )
        self._say(f"retrying the failed tasks of run {old.run_id}")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self._starting = asyncio.ensure_future(self._bind_when_started(resumed))
            return None
        started: concurrent.futures.Future[RunHandle] = concurrent.futures.Future()

        async def run_it() -> None:
            try:
                handle = await resumed
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(handle)
            await handle.wait()

        thread = threading.Thread(
            target=asyncio.run, args=(run_it(),), name=f"taskexec-retry-{old.run_id}", daemon=True
        )
        thread.start()
        try:
            handle = started.result(timeout)
        except TaskexecError as exc:
            self._say(f"retry not started: {exc}")
            return None
        self.bind(handle)
        return handle

    async def _bind_when_started(self, resumed: Awaitable[RunHandle]) -> None:
        try:
            handle = await resumed
        except TaskexecError as exc:
            self._say(f"retry not started: {exc}")
            return
        self.bind(handle)

    # -- display -----------------------------------------------------------------------------
    def static_html(self) -> str:
        """The static summary of the run now (what shows where widgets do not).

        Returns:
            HTML: :func:`~taskexec_nb.jupyter.runsummary.summary_html`.
        """
        return summary.summary_html(self.snapshot(), run_id=self.handle.run_id, note=self.note)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, the static HTML summary next to it, and the summary's line as text.

        Args:
            **kwargs: IPython's ``include``/``exclude`` (all is given).

        Returns:
            The mimebundle.
        """
        data: dict[str, Any] = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        snap = self.snapshot()
        rid = self.handle.run_id
        data["text/plain"] = f"Run {rid}: {summary.overview(snap).text()}"
        data["text/html"] = summary.summary_html(snap, run_id=rid, note=self.note)
        return data

    def show(self) -> None:
        """Display the dashboard here; its static part is updated when the run ends."""
        from IPython.display import display

        shown = display(  # type: ignore[no-untyped-call]
            self._repr_mimebundle_(), raw=True, display_id=True
        )
        self._displays.append(shown)

    _ipython_display_ = show

    def _update_displays(self, again: bool = True) -> None:
        """Give every display of the dashboard the run's final static summary.

        The update goes out with the cell running now; when the run ended between
        two cells, a front end that takes updates only during a cell (papermill's)
        gets it from the next cell: it is sent once more when that one starts.
        """
        if not self._displays:
            return
        bundle = self._repr_mimebundle_()
        for shown in self._displays:
            shown.update(bundle, raw=True)
        if again and in_kernel():
            from IPython import get_ipython

            events = get_ipython().events

            def resend(*_info: object) -> None:
                """Send the final summary again, once, as the next cell starts.

                Args:
                    *_info: IPython's ``pre_run_cell`` arguments (unused).
                """
                events.unregister("pre_run_cell", resend)
                self._update_displays(again=False)

            events.register("pre_run_cell", resend)
