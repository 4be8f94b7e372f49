"""A run's state as text and static HTML: what the dashboard shows, and leaves behind.

Pure functions of a :class:`~taskexec_nb.run.rows.RunSnapshot` (no ipywidgets, no
pandas), cheap enough to redraw a 1,000-task run several times a second:

- :func:`overview`: done/total, failed, skipped, running, elapsed and ETA;
  done means completed, as in ``run.progress()``, the report and ``taskexec status``;
- :func:`groups`: the same per phase or per story;
- :func:`summary_html`: the whole summary as static HTML (CSS classes ``te-*``),
  with a static SVG figure of the progress per phase: what a front end without
  widgets (papermill, nbconvert, GitHub's viewer) shows instead of an empty widget.

Status is always said in words; colour (from :mod:`taskexec_nb.figures`) only repeats it.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from taskexec_nb.events import RunStatus, TaskStatus
from taskexec_nb.figures import style, text_color
from taskexec_nb.run.rows import RunSnapshot, TaskRow

FAILED = frozenset({TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value})
FINISHED = frozenset(s.value for s in TaskStatus if s.finished)
ENDED_RUN = frozenset(s.value for s in RunStatus) - {"running", "paused"}
"""Run statuses after which nothing more happens (``incomplete`` among them)."""
SHOWN_FAILURES = 20
"""Failures listed in full (the rest are counted)."""
TAIL_SHOWN = 8
"""Lines of a failure's output shown."""


@dataclass(frozen=True)
class Overview:
    """A run's overall progress.

    Attributes:
        state: The run's status (``running``, ``paused``, ``completed``...).
        total: Tasks in the run.
        done: Tasks completed (as ``done`` in ``run.progress()`` and the report).
        completed: Tasks completed (the same as ``done``).
        failed: Tasks failed or timed out (allowed failures included).
        skipped: Tasks skipped.
        cancelled: Tasks cancelled.
        running: Tasks running or suspended now.
        elapsed: Seconds since the run started (to its end once it ended).
        eta: Seconds still to go, estimated from the pace so far (None: unknown).
    """

    state: str
    total: int
    done: int
    completed: int
    failed: int
    skipped: int
    cancelled: int
    running: int
    elapsed: float
    eta: float | None

    @property
    def ended(self) -> bool:
        """Whether the run has ended."""
        return self.state in ENDED_RUN

    def text(self) -> str:
        """One line: ``state: running · 12/40 done · 1 failed · ... · ETA 0:40``.

        Returns:
            The line.
        """
        return f"state: {self.state} · {self.counts_text()}"

    def counts_text(self) -> str:
        """The line without the state: ``12/40 done · 1 failed · ... · ETA 0:40``.

        Returns:
            The line.
        """
        parts = [
            f"{self.done}/{self.total} done",
            f"{self.failed} failed",
            f"{self.skipped} skipped",
        ]
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        if not self.ended:
            parts.append(f"{self.running} running")
        parts.append(f"elapsed {clock(self.elapsed)}")
        if not self.ended:
            parts.append(f"ETA {clock(self.eta) if self.eta is not None else 'unknown'}")
        return " · ".join(parts)


@dataclass
class Group:
    """One phase's (or story's) progress.

    Attributes:
        name: The phase label or story (``(none)`` for tasks without a story).
        total: Its tasks.
        done: Those completed (as ``done`` in ``run.progress()``).
        counts: Tasks by status, in first-seen order.
    """

    name: str
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        """``2/4 done: 2 completed, 1 failed, 1 running``.

        Returns:
            The counts in words.
        """
        counts = ", ".join(f"{n} {style(s).label}" for s, n in self.counts.items())
        return f"{self.done}/{self.total} done: {counts}"


def clock(seconds: float) -> str:
    """Seconds as ``m:ss`` (or ``h:mm:ss``).

    Args:
        seconds: A duration.

    Returns:
        The duration as a clock reading.
    """
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def overview(snapshot: RunSnapshot, now: float | None = None) -> Overview:
    """The run's overall progress now.

    ``done`` counts the completed tasks (a failed or skipped task is not done). The
    ETA is the time the finished tasks (completed, failed, skipped...) took, per
    task, times the tasks not finished: unknown until a task has finished.

    Args:
        snapshot: The run.
        now: The time (default: ``time.time()``).

    Returns:
        The progress.
    """
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    for row in snapshot.tasks:
        counts[row.status] = counts.get(row.status, 0) + 1
    finished = sum(n for s, n in counts.items() if s in FINISHED)
    completed = counts.get(TaskStatus.COMPLETED.value, 0)
    total = len(snapshot.tasks)
    start = snapshot.started
    end = snapshot.finished if snapshot.finished is not None else now
    elapsed = max(0.0, end - start) if start is not None else 0.0
    eta = elapsed / finished * (total - finished) if finished and start is not None else None
    return Overview(
        state=snapshot.status,
        total=total,
        done=completed,
        completed=completed,
        failed=sum(counts.get(s, 0) for s in FAILED),
        skipped=counts.get(TaskStatus.SKIPPED.value, 0),
        cancelled=counts.get(TaskStatus.CANCELLED.value, 0),
        running=counts.get(TaskStatus.RUNNING.value, 0) + counts.get(TaskStatus.PAUSED.value, 0),
        elapsed=elapsed,
        eta=eta,
    )


def groups(rows: Iterable[TaskRow], by: str = "phase") -> list[Group]:
    """Progress per phase or story, in the order the rows list them.

    Args:
        rows: The run's tasks.
        by: ``phase`` or ``story``.

    Returns:
        One group per phase (or story; tasks without one are ``(none)``).

    Raises:
        ValueError: If ``by`` is neither.
    """
    if by not in ("phase", "story"):
        raise ValueError(f"by={by!r}: group by 'phase' or 'story'")
    out: dict[str, Group] = {}
    for row in rows:
        name = (row.phase if by == "phase" else row.story) or "(none)"
        group = out.get(name)
        if group is None:
            group = out[name] = Group(name)
        group.total += 1
        group.done += row.status == TaskStatus.COMPLETED.value
        group.counts[row.status] = group.counts.get(row.status, 0) + 1
    return list(out.values())


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def groups_html(snapshot: RunSnapshot, by: str = "phase") -> str:
    """A table of the progress per phase or story, each row with a labelled bar and its counts.

    Args:
        snapshot: The run.
        by: ``phase`` or ``story``.

    Returns:
        An HTML ``table`` (empty string when no task has a story, for ``story``).
    """
    rows = groups(snapshot.tasks, by)
    if by == "story" and all(g.name == "(none)" for g in rows):
        return ""
    head = "Phase" if by == "phase" else "Story"
    body = "".join(
        f"<tr><th scope='row'>{_e(g.name)}</th>"
        f"<td><progress max='{max(g.total, 1)}' value='{g.done}' "
        f"aria-label='{_e(g.name)}: {g.done} of {g.total} done'></progress></td>"
        f"<td>{_e(g.text())}</td></tr>"
        for g in rows
    )
    return (
        f"<table class='te-groups te-by-{by}'><caption>Progress by {by}</caption>"
        f"<thead><tr><th scope='col'>{head}</th><th scope='col'>Progress</th>"
        f"<th scope='col'>Tasks</th></tr></thead><tbody>{body}</tbody></table>"
    )


def running_html(snapshot: RunSnapshot, now: float | None = None) -> str:
    """The running tasks with their elapsed time and last output line.

    Args:
        snapshot: The run.
        now: The time (default: ``time.time()``).

    Returns:
        An HTML table, or a line saying none runs.
    """
    now = time.time() if now is None else now
    rows = snapshot.running()
    if not rows:
        return "<p class='te-running'>Running: none.</p>"
    body = "".join(
        f"<tr><th scope='row'>{_e(r.id)}</th><td>{_e(style(r.status).label)}</td>"
        f"<td>{clock(now - r.start) if r.start else '0:00'}</td>"
        f"<td>{_e(r.title or '')}</td><td><code>{_e(r.last_line or '')}</code></td></tr>"
        for r in rows
    )
    return (
        f"<table class='te-running'><caption>Running now ({len(rows)})</caption>"
        "<thead><tr><th scope='col'>Task</th><th scope='col'>Status</th>"
        "<th scope='col'>Elapsed</th><th scope='col'>Title</th>"
        f"<th scope='col'>Last output line</th></tr></thead><tbody>{body}</tbody></table>"
    )


def failures_html(snapshot: RunSnapshot) -> str:
    """The failed tasks with their error and the tail of their output.

    Args:
        snapshot: The run.

    Returns:
        An HTML list, or a line saying none failed.
    """
    rows = snapshot.failures()
    if not rows:
        return "<p class='te-failures'>Failures: none.</p>"
    items = []
    for r in rows[:SHOWN_FAILURES]:
        tail = "\n".join((r.tail or "").splitlines()[-TAIL_SHOWN:])
        allowed = " (allowed)" if r.allowed else ""
        items.append(
            f"<li><strong>{_e(r.id)}</strong> {_e(style(r.status).label)}{allowed}: "
            f"{_e(r.error or 'no error recorded')}"
            + (f"<div>last output:</div><pre>{_e(tail)}</pre>" if tail else "")
            + (f"<div>log: <code>{_e(r.log_path)}</code></div>" if r.log_path else "")
            + "</li>"
        )
    more = len(rows) - SHOWN_FAILURES
    extra = f"<p>and {more} more failure(s): see <code>run.status()</code>.</p>" if more > 0 else ""
    return (
        f"<section class='te-failures' aria-label='Failures'><h4>Failures ({len(rows)})</h4>"
        f"<ul>{''.join(items)}</ul>{extra}</section>"
    )


_SEGMENTS = (
    "completed",
    "failed",
    "timed_out",
    "skipped",
    "cancelled",
    "running",
    "paused",
    "queued",
    "pending",
)


def progress_svg(snapshot: RunSnapshot, by: str = "phase", width: int = 560) -> str:
    """A static figure of the progress per phase: one stacked bar per group, labelled in words.

    Each bar's segments take the status colours of :mod:`taskexec_nb.figures`; every
    row also says its counts in text, and the figure has a title and a caption.

    Args:
        snapshot: The run.
        by: ``phase`` or ``story``.
        width: The bars' width in pixels.

    Returns:
        A ``figure`` holding the SVG (``role="img"`` with an accessible name) and
        its ``figcaption``.
    """
    rows = groups(snapshot.tasks, by)
    row_h, label_h, pad = 18, 16, 6
    parts = []
    y = pad
    for g in rows:
        parts.append(
            f"<text x='0' y='{y + 12}' font-size='12' fill='#1A1A1A'>"
            f"{_e(g.name)}: {_e(g.text())}</text>"
        )
        y += label_h
        x = 0.0
        for status in [*_SEGMENTS, *(s for s in g.counts if s not in _SEGMENTS)]:
            n = g.counts.get(status, 0)
            if not n:
                continue
            w = width * n / max(g.total, 1)
            st = style(status)
            parts.append(
                f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{row_h}' fill='{st.color}' "
                f"stroke='#1A1A1A' stroke-width='0.5'><title>{n} {_e(st.label)}</title></rect>"
            )
            if w >= 28:
                parts.append(
                    f"<text x='{x + 3:.1f}' y='{y + 13}' font-size='11' "
                    f"fill='{text_color(st.color)}'>{n}</text>"
                )
            x += w
        y += row_h + pad
    # The legend: a swatch and the word for each status drawn.
    x = 0.0
    for status in [*_SEGMENTS, *sorted({s for g in rows for s in g.counts} - set(_SEGMENTS))]:
        if not any(g.counts.get(status) for g in rows):
            continue
        st = style(status)
        parts.append(
            f"<rect x='{x:.0f}' y='{y}' width='12' height='12' fill='{st.color}' "
            f"stroke='#1A1A1A' stroke-width='0.5'/><text x='{x + 16:.0f}' y='{y + 11}' "
            f"font-size='12' fill='#1A1A1A'>{_e(st.label)}</text>"
        )
        x += 28 + 7 * len(st.label)
    height = y + 12 + pad
    ov = overview(snapshot)
    alt = f"Progress by {by}: {ov.done} of {ov.total} tasks done, " + "; ".join(
        f"{g.name} {g.text()}" for g in rows
    )
    return (
        f"<figure class='te-figure te-static-figure' aria-label='{_e(alt)}'>"
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{_e(alt)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"style='background:#FFFFFF'><title>{_e(alt)}</title>{''.join(parts)}</svg>"
        f"<figcaption>{_e(alt)}.</figcaption></figure>"
    )


def summary_html(
    snapshot: RunSnapshot,
    *,
    run_id: str | None = None,
    note: str | None = None,
    now: float | None = None,
    figure: bool = True,
) -> str:
    """The whole summary as static HTML: what stays in a notebook opened without widgets.

    Args:
        snapshot: The run.
        run_id: The run's ID (default: the snapshot's).
        note: A line to add under the status (e.g. how to get the controls).
        now: The time (default: ``time.time()``).
        figure: Include the static progress figure.

    Returns:
        A ``section`` with class ``te-dashboard te-static``: the status line
        (``.te-status``), the progress text, the groups, the running tasks, the
        failures and the figure.
    """
    ov = overview(snapshot, now)
    rid = run_id or snapshot.run_id or "(not started)"
    return (
        f"<section class='te-dashboard te-static' aria-label='Run {_e(rid)}'>"
        f"<h3>Run {_e(rid)}</h3>"
        + header_html(ov)
        + (f"<p class='te-note'>{_e(note)}</p>" if note else "")
        + groups_html(snapshot, "phase")
        + groups_html(snapshot, "story")
        + ("" if ov.ended else running_html(snapshot, now))
        + failures_html(snapshot)
        + notices_html(snapshot.notices)
        + (progress_svg(snapshot) if figure else "")
        + "</section>"
    )


def notices_html(notices: Sequence[str]) -> str:
    """The run's notices as a list (nothing when there are none).

    Args:
        notices: The notices.

    Returns:
        HTML.
    """
    if not notices:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in notices[-10:])
    return (
        "<section class='te-notices' aria-label='Notices'><h4>Notices</h4>"
        f"<ul>{items}</ul></section>"
    )


def header_html(ov: Overview) -> str:
    """The status line (``.te-status``), the overall bar and the counts line (``.te-counts``).

    Args:
        ov: The run's progress.

    Returns:
        HTML: a native ``progress`` with an accessible name, and the text.
    """
    return (
        f"<p class='te-status' role='status'>state: {_e(ov.state)}</p>"
        f"<p class='te-overall'><progress max='{max(ov.total, 1)}' value='{ov.done}' "
        f"aria-label='Run progress: {ov.done} of {ov.total} tasks done'></progress> "
        f"<span class='te-counts'>{_e(ov.counts_text())}</span></p>"
    )
