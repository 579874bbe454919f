"""What a fix buys, summarised (pure): per arm and test part the mean accuracy with its 95% Student-t interval, and
against the original labels the paired difference (same split and initialisation) with its interval and p-value."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from hardness.studies.relabel.measure import ARMS
from hardness.studies.report.aggregate import compute_interval
from hardness.tracking import schema

BASE = ARMS[0]


def summarise_fix(table: pd.DataFrame) -> pd.DataFrame:
    """measure_fix's table -> one row per arm and part: n, acc_mean, acc_ci_low, acc_ci_high, and (other arms) diff_mean,
    diff_ci_low, diff_ci_high, p_paired (paired t-test over the models both arms trained)."""
    wide = table.pivot_table(index=["part", "split", "init"], columns="arm", values="acc", dropna=False)
    rows = []
    for part in schema.TEST_PARTS:
        by_model = wide.loc[part]
        for arm in [a for a in ARMS if a in by_model]:
            mean, _, low, high = compute_interval(by_model[arm])
            row = {"arm": arm, "part": part, "n": int(by_model[arm].notna().sum()), "acc_mean": mean,
                   "acc_ci_low": low, "acc_ci_high": high}
            if arm != BASE:
                diffs = (by_model[arm] - by_model[BASE]).dropna().to_numpy()
                diff, _, diff_low, diff_high = compute_interval(diffs)
                row |= {"diff_mean": diff, "diff_ci_low": diff_low, "diff_ci_high": diff_high,
                        "p_paired": paired_p(diffs)}
            rows.append(row)
    return pd.DataFrame(rows)


def paired_p(diffs: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test on differences [n]; NaN below 2 pairs or when they do not vary."""
    if len(diffs) < 2 or np.allclose(diffs, diffs[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(diffs, 0.0).pvalue)
