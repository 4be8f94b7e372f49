"""What a plan shows: its table, summary line, reprs and JSON form (a mixin of the plan).

:class:`PlanViews` holds the views of :class:`~taskexec_nb.plan.ExecutionPlan`;
the plan itself keeps the dependencies, the order and the runs. Nothing here
changes the plan.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb._columns import by_task, set_phase
from taskexec_nb.model import DependencyMode, Diagnostic, Task, TaskState

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import pandas as pd
    import plotly.graph_objects as go


if TYPE_CHECKING:
    from typing import Protocol

    class _Plan(Protocol):
        """What the views read from the plan."""

        mode: DependencyMode

        @property
        def diagnostics(self) -> tuple[Diagnostic, ...]: ...

        _deps: dict[str, list[str]]
        _explicit: dict[str, list[str]]
        _levels: dict[str, int]

        @property
        def path(self) -> str: ...
        @property
        def tasks(self) -> tuple[Task, ...]: ...
        @property
        def errors(self) -> tuple[Diagnostic, ...]: ...
        @property
        def to_run(self) -> tuple[str, ...]: ...
        @property
        def waves(self) -> list[list[str]]: ...
        def critical_path(self, durations: Mapping[str, float] | None = None) -> list[str]:
            """The longest chain of pending tasks.

            Args:
                durations: Expected seconds per task ID.

            Returns:
                Task IDs in run order (empty when nothing is pending).
            """
            ...

        def effective_deps(self, chosen: Iterable[str]) -> dict[str, tuple[str, ...]]:
            """What each chosen task waits for among the chosen ones.

            Args:
                chosen: The task IDs that will run.

            Returns:
                Each chosen task's prerequisites among them, in run order.
            """
            ...

        def to_frame(self) -> pd.DataFrame: ...
        def summary(self) -> str: ...
        def __len__(self) -> int: ...


class PlanViews:
    """The table, text and JSON views of an execution plan (mixed into ``ExecutionPlan``)."""

    def to_frame(self: _Plan) -> pd.DataFrame:
        """One row per task, indexed by task ID (``id``), in file order.

        Columns: phase (the heading's number, an ordered categorical in file order),
        phase_title, story, parallel, status, depends_on, explicit_deps, files,
        action, wave (``Int64``, missing for tasks that do not run), line, description.

        Returns:
            The DataFrame.
        """
        import pandas as pd

        rows = [_row(self, t) for t in self.tasks]
        columns = [
            "id",
            "phase",
            "story",
            "parallel",
            "status",
            "depends_on",
            "explicit_deps",
            "files",
            "action",
            "wave",
            "line",
            "description",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame["wave"] = frame["wave"].astype("Int64")
        set_phase(frame, [_phase_key(t) for t in self.tasks], [t.phase.title for t in self.tasks])
        return by_task(frame)

    def summary(self: _Plan) -> str:
        """One line: tasks, phases, mode, what will run, waves and the critical path.

        Returns:
            The line, ending with the error count when the plan cannot run.
        """
        n_done = sum(1 for t in self.tasks if t.state is TaskState.DONE)
        n_cancel = sum(1 for t in self.tasks if t.state is TaskState.CANCELLED)
        phases = len({t.phase.index for t in self.tasks})
        return (
            f"{len(self)} tasks in {phases} phase(s) from {self.path}, mode {self.mode.value}: "
            f"{len(self.to_run)} to run in {len(self.waves)} wave(s), {n_done} done, "
            f"{n_cancel} cancelled; critical path {len(self.critical_path())} task(s)"
            + (f"; {len(self.errors)} error(s), so it cannot run" if self.errors else "")
        )

    def __repr__(self: _Plan) -> str:
        lines = [f"<ExecutionPlan {self.summary()}>"]
        for i, wave in enumerate(self.waves[:10]):
            shown = ", ".join(wave[:12]) + (f", … (+{len(wave) - 12})" if len(wave) > 12 else "")
            lines.append(f"  wave {i}: {shown}")
        if len(self.waves) > 10:
            lines.append(f"  … {len(self.waves) - 10} more wave(s)")
        lines.extend(f"  {d.format()}" for d in self.errors)
        return "\n".join(lines)

    def _repr_html_(self: _Plan) -> str:
        frame = self.to_frame()[
            [
                "phase",
                "story",
                "parallel",
                "status",
                "depends_on",
                "action",
                "wave",
                "line",
                "description",
            ]
        ]
        for col in ("depends_on",):
            frame[col] = frame[col].map(", ".join)
        table = frame.to_html(max_rows=60, border=0, na_rep="")
        errors = "".join(f"<li>{html.escape(d.format())}</li>" for d in self.errors)
        return (
            f'<div class="taskexec-plan"><p><strong>Execution plan</strong>: '
            f"{html.escape(self.summary())}</p>"
            + (f'<ul class="taskexec-errors">{errors}</ul>' if errors else "")
            + f"{table}</div>"
        )

    def dag(self: _Plan, *, figure: go.Figure | None = None) -> go.Figure:
        """The plan's dependency graph: layers by wave, phases banded, the critical path in bold.

        Args:
            figure: A figure to redraw in place (e.g. a ``FigureWidget``).

        Returns:
            The Plotly figure: one node per task, by its state (pending, done or
            cancelled, each its own marker shape and legend entry).
        """
        from taskexec_nb.figures import dag

        frame = _figure_frame(self)
        title = f"Dependencies of {Path(self.path).name} (plan)"
        return dag(frame, title=title, critical=self.critical_path(), figure=figure)

    def gantt(
        self: _Plan,
        group_by: str = "phase",
        *,
        state_dir: str | Path | None = None,
        figure: go.Figure | None = None,
    ) -> go.Figure:
        """An estimated timeline of the pending tasks, with unlimited workers.

        Each task starts when what it waits for has ended; it takes the median of
        what it took in the latest runs of this file in the state folder, else the
        median of the tasks that have one, else one second.

        Args:
            group_by: The lanes: ``phase`` or ``story``.
            state_dir: Where past runs are (default: the configured state folder,
                else ``.taskexec`` beside the tasks.md).
            figure: A figure to redraw in place (e.g. a ``FigureWidget``).

        Returns:
            The Plotly figure: one hollow bar per pending task, on a time axis from
            the start (h:m:s); its text alternative says where the durations came from.

        Raises:
            UsageError: If ``group_by`` is neither ``phase`` nor ``story``.
        """
        import statistics

        import pandas as pd

        from taskexec_nb.errors import UsageError
        from taskexec_nb.figures import gantt
        from taskexec_nb.report.runs import past_durations

        if group_by not in ("phase", "story"):
            raise UsageError(f"gantt(group_by={group_by!r}): use phase or story")
        known = past_durations(self.path, state_dir)
        default = statistics.median(known.values()) if known else 1.0
        deps = self.effective_deps(self.to_run)
        start: dict[str, float] = {}
        end: dict[str, float] = {}
        for tid in deps:  # in run order: prerequisites first
            start[tid] = max((end[d] for d in deps[tid]), default=0.0)
            end[tid] = start[tid] + known.get(tid, default)
        frame = _figure_frame(self).loc[list(self.to_run)]
        zero = pd.Timestamp(0, tz="UTC")
        attempts = frame[["phase", "phase_title", "story"]].assign(
            attempt=1,
            status="pending",
            start=[zero + pd.Timedelta(seconds=start[t]) for t in frame.index],
            end=[zero + pd.Timedelta(seconds=end[t]) for t in frame.index],
            exit_code=None,
            error=None,
        )
        fig = gantt(
            attempts,
            frame,
            group_by=group_by,
            title=f"Estimated timeline of {Path(self.path).name} (plan)",
            figure=figure,
        )
        fig.update_xaxes(tickformat="%H:%M:%S")  # time from the start
        timed = len(set(known) & set(start))
        fig.layout.meta = {
            "alt": (
                f"Estimated timeline of {len(start)} pending tasks in {len(self.waves)} "
                f"waves, with unlimited workers: {max(end.values(), default=0.0):.1f} s. "
                f"Durations: {timed} from past runs, the others {default:.1f} s each."
            )
        }
        return fig

    def to_dict(self: _Plan) -> dict[str, Any]:
        """A JSON-ready description of the plan (what ``taskexec plan --json`` prints).

        Returns:
            The file, mode, tasks, waves, critical path and diagnostics, as JSON types.
        """
        return {
            "file": self.path,
            "mode": self.mode.value,
            "tasks": [_json_task(self, t) for t in self.tasks],
            "waves": self.waves,
            "critical_path": self.critical_path(),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def _row(plan: _Plan, t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "phase": t.phase.number or "",
        "story": t.story,
        "parallel": t.parallel,
        "status": t.state.value,
        "depends_on": list(plan._deps[t.id]),
        "explicit_deps": list(plan._explicit[t.id]),
        "files": list(t.files),
        "action": t.action.kind.value,
        "wave": plan._levels.get(t.id),
        "line": t.line,
        "description": t.description,
    }


def _json_task(plan: _Plan, t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "line": t.line,
        "end_line": t.end_line,
        "form": t.form.value,
        "checked": t.checked,
        "cancelled": t.cancelled,
        "status": t.state.value,
        "parallel": t.parallel,
        "story": t.story,
        "stories": list(t.stories),
        "tags": list(t.tags),
        "phase": t.phase.number,
        "phase_title": t.phase.title,
        "section": t.section,
        "description": t.description,
        "files": list(t.files),
        "explicit_deps": list(plan._explicit[t.id]),
        "depends_on": list(plan._deps[t.id]),
        "action": t.action.kind.value,
        "params": t.params.as_dict(),
        "wave": plan._levels.get(t.id),
    }


def _phase_key(t: Task) -> str:
    """The ``phase`` cell: the heading's number, or an unnumbered phase's title."""
    return t.phase.number or t.phase.title


def _figure_frame(plan: _Plan) -> pd.DataFrame:
    """The plan's table as the figures read it: states as run statuses, the critical path."""
    frame = plan.to_frame()
    frame["status"] = frame["status"].map({"done": "completed"}).fillna(frame["status"])
    frame["critical"] = frame.index.isin(plan.critical_path())
    return frame
