"""Terminal tables: one precision per column, whole numbers without decimals, NaN as a dash."""

import math

import pandas as pd

from hardness.console import column_decimals, format_column


def test_a_column_shares_one_precision():
    assert format_column(pd.Series([0.7483, 1.3, 12.75])) == ["0.7", "1.3", "12.8"]
    assert format_column(pd.Series([0.7483, 0.5])) == ["0.748", "0.500"]
    assert format_column(pd.Series([123.456, 7.0])) == ["123", "7"]


def test_whole_numbers_nan_and_tiny_values():
    assert format_column(pd.Series([3.0, 41.0, math.nan])) == ["3", "41", "-"]
    assert format_column(pd.Series([0.5, 0.00001])) == ["0.500", "1e-05"]
    assert format_column(pd.Series([123456.7, 0.5])) == ["123457", "0.5"]
    assert format_column(pd.Series([0.25, None], dtype=object)) == ["0.250", "-"]


def test_text_and_integers_are_shown_as_they_are():
    assert format_column(pd.Series(["a", "b"])) == ["a", "b"]
    assert format_column(pd.Series([1, 20])) == ["1", "20"]
    assert column_decimals(pd.Series([math.nan, math.inf])) == 0
