"""Epoch seconds as timezone-aware pandas timestamps, the one conversion every table uses.

``pd.to_datetime(values, unit="s")`` on floats with missing values reads
uninitialised memory where the values are NaN (pandas 2.x), so it now and then
warns "invalid value encountered in multiply" for no reason of ours. The missing
values are masked here before pandas sees them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def utc_stamps(values: Any) -> pd.Series:
    """Convert epoch seconds (floats, ``None`` or NaN for missing) to ``datetime64[us, UTC]``.

    Args:
        values: A pandas Series, or any sequence of numbers and ``None``.

    Returns:
        A Series of microsecond UTC timestamps, ``NaT`` where a value was missing,
        with the index of ``values`` when it is a Series.
    """
    import pandas as pd

    seconds = pd.Series(values).astype("float64")
    missing = seconds.isna()
    stamps = pd.to_datetime(seconds.mask(missing, 0.0), unit="s", utc=True)
    return stamps.astype("datetime64[us, UTC]").mask(missing)
