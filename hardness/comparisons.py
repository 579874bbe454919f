"""Comparing hard sets (SPEC section 7): overlap, Jaccard, stability, class distribution, correlation, tests."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import torch
from scipy import stats


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """100 * |A and B| / |A| (asymmetric; NaN when A is empty)."""
    size = int(a.sum())
    return float("nan") if size == 0 else 100.0 * int((a & b).sum()) / size


def jaccard(a: torch.Tensor, b: torch.Tensor) -> float:
    """|A and B| / |A or B| (NaN when both are empty)."""
    union = int((a | b).sum())
    return float("nan") if union == 0 else int((a & b).sum()) / union


MEASURES = {"overlap": overlap, "jaccard": jaccard}


def _measure(name: str):
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose {', '.join(MEASURES)}")
    return MEASURES[name]


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.array(values, dtype=float)
    if np.isnan(array).all():
        return float("nan"), float("nan")
    return float(np.nanmean(array)), float(np.nanstd(array))


def paired_overlap(sets_a: torch.Tensor, sets_b: torch.Tensor, *, measure: str = "overlap") -> tuple[float, float]:
    """Mean and std of the measure over paired rows of [S, N] masks (row k of A with row k of B)."""
    function = _measure(measure)
    return _mean_std([function(a, b) for a, b in zip(sets_a, sets_b)])


def stability(sets: torch.Tensor, *, measure: str = "overlap") -> tuple[float, float]:
    """Mean and std of the measure over all ordered pairs i != j of one identifier's sets [S, N]."""
    function = _measure(measure)
    return _mean_std([function(sets[i], sets[j]) for i, j in itertools.permutations(range(len(sets)), 2)])


def overlap_matrix(sets_by_name: dict[str, torch.Tensor], *, measure: str = "overlap") -> pd.DataFrame:
    """Rows A, columns B: mean paired measure of A's sets with B's sets."""
    names = list(sets_by_name)
    values = [[paired_overlap(sets_by_name[a], sets_by_name[b], measure=measure)[0] for b in names] for a in names]
    return pd.DataFrame(values, index=names, columns=names)


def hard_counts_per_class(sets: torch.Tensor, labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Hard samples per class for each set: [S, n_classes]."""
    return (sets.long() @ torch.nn.functional.one_hot(labels, n_classes).long()).numpy()


def correlate_with_error(class_counts: np.ndarray, class_error: np.ndarray) -> tuple[float, float]:
    """Pearson r and p between hard counts per class and class error rates (NaN when either is constant)."""
    counts, error = np.asarray(class_counts, dtype=float), np.asarray(class_error, dtype=float)
    if len(counts) < 3 or np.ptp(counts) == 0 or np.ptp(error) == 0:
        return float("nan"), float("nan")
    result = stats.pearsonr(counts, error)
    return float(result.statistic), float(result.pvalue)


def paired_difference_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired t-test of a - b (e.g. two identifiers' gaps on matched cells): mean_diff, t, p, n."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(a)
    mean_diff = float(np.mean(a - b)) if n else float("nan")
    if n < 2 or np.allclose(a - b, (a - b)[0]):
        return {"mean_diff": mean_diff, "t": float("nan"), "p": float("nan"), "n": n}
    result = stats.ttest_rel(a, b)
    return {"mean_diff": mean_diff, "t": float(result.statistic), "p": float(result.pvalue), "n": n}
