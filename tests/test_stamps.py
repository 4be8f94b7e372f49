"""Epoch seconds to UTC timestamps, as every table shows them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from taskexec_nb._stamps import utc_stamps


def test_missing_values_are_nat_and_the_rest_are_microsecond_utc_stamps() -> None:
    values = pd.Series([1.5, None, np.nan, 1_700_000_000.25], index=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stamps = utc_stamps(values)
    assert str(stamps.dtype) == "datetime64[us, UTC]"
    assert list(stamps.index) == list("abcd")
    assert stamps.isna().tolist() == [False, True, True, False]
    assert stamps["a"] == pd.Timestamp("1970-01-01 00:00:01.5", tz="UTC")
    assert stamps["d"] == pd.Timestamp(1_700_000_000.25, unit="s", tz="UTC")


def test_a_plain_list_and_an_all_missing_column_convert_too() -> None:
    assert utc_stamps([None, None]).isna().all()
    assert str(utc_stamps([]).dtype) == "datetime64[us, UTC]"
    assert utc_stamps([0.0]).iloc[0] == pd.Timestamp(0, tz="UTC")
