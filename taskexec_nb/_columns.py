"""The columns every task table shares: indexed by task ID, the phase as number and title.

The plan's table, a run's ``status()``, its live model's frame and the report's
tables all show the phase the same way: ``phase`` is the number as written in
the heading (``"3"``, ``"3.1"``; an unnumbered phase's title), an ordered
categorical in file order so sorting by it follows the file (``"10"`` after
``"9"``), and ``phase_title`` beside it holds the heading's title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# What Phase.label writes: "Phase 3: Title", "Phase 3", or a title alone.
_LABEL = re.compile(r"Phase (?P<number>\S+?)(?:: (?P<title>.*))?", re.DOTALL)


def split_phase(label: str | None) -> tuple[str | None, str | None]:
    """A phase label (``Phase 3: User Story 1``) as its number and its title.

    Args:
        label: The label as :attr:`taskexec_nb.model.Phase.label` writes it, or None.

    Returns:
        ``(number, title)``: ``("3", "User Story 1")``; an unnumbered phase's label
        is its title, which is also its number (``("Polish", "Polish")``); None gives
        ``(None, None)``.
    """
    if label is None:
        return None, None
    found = _LABEL.fullmatch(label)
    if found is None:
        return label, label
    return found["number"], found["title"] or ""


def set_phase(
    frame: pd.DataFrame,
    numbers: Sequence[str | None],
    titles: Sequence[str | None],
    order: Iterable[str | None] = (),
) -> None:
    """Set ``phase`` (ordered categorical) and ``phase_title`` (text, right after it).

    Args:
        frame: The table, with a ``phase`` column already (replaced in place).
        numbers: Each row's phase number.
        titles: Each row's phase title.
        order: Phase numbers in file order (default: their order in ``numbers``);
            numbers not in it come after, in their order in ``numbers``.
    """
    import pandas as pd

    categories = [c for c in dict.fromkeys([*order, *numbers]) if c is not None]
    frame["phase"] = pd.Categorical(list(numbers), categories=categories, ordered=True)
    if "phase_title" in frame.columns:
        frame.pop("phase_title")
    at = list(frame.columns).index("phase") + 1
    frame.insert(at, "phase_title", pd.Series(list(titles), index=frame.index, dtype="string"))


def set_phase_from_labels(frame: pd.DataFrame, order: Iterable[str | None] = ()) -> None:
    """:func:`set_phase` for a table whose ``phase`` holds labels (``Phase 3: Title``).

    Args:
        frame: The table (changed in place).
        order: Phase labels in file order (default: their order in the table).
    """
    labels = frame["phase"].tolist()
    split = {v: split_phase(v) for v in set(labels) if isinstance(v, str)}  # few distinct
    parts = [split.get(v, (None, None)) if isinstance(v, str) else (None, None) for v in labels]
    set_phase(
        frame,
        [p[0] for p in parts],
        [p[1] for p in parts],
        [split_phase(label)[0] for label in dict.fromkeys(order)],
    )


def by_task(frame: pd.DataFrame) -> pd.DataFrame:
    """The table indexed by its ``id`` column (the index keeps the name ``id``).

    Args:
        frame: A table with an ``id`` column.

    Returns:
        The same rows, indexed by task ID.
    """
    return frame.set_index("id")
