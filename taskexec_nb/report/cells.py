"""Report tables as exports show them: flat cells, people's statuses, JSON-ready records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskexec_nb.store import shown_status

if TYPE_CHECKING:
    import pandas as pd


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose list cells are comma-joined text, the task ID a column (for CSV and HTML)."""
    out = _flat_index(frame)
    for col in out.columns:
        if out[col].dtype == object and any(isinstance(v, list) for v in out[col]):
            out[col] = [", ".join(v) if isinstance(v, list) else v for v in out[col]]
    return out


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as people read it: flat cells, ``failed (allowed)`` in place of two columns."""
    out = _flat(frame)
    out["status"] = [shown_status(s, a) for s, a in zip(out["status"], out["allowed"], strict=True)]
    return out.drop(columns=["allowed"])


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in _flat_index(frame).to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if _missing(v):
                v = None
            elif hasattr(v, "isoformat"):
                v = v.isoformat()
            elif hasattr(v, "item"):  # numpy scalars
                v = v.item()
            clean[str(k)] = v
        out.append(clean)
    return out


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA (a list is never missing)."""
    import pandas as pd

    if value is None:
        return True
    if isinstance(value, list | tuple | dict):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _flat_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with a named index (the task ID) as its first column, as exports write it."""
    if frame.index.name is None:
        return frame.copy()
    return frame.reset_index()
