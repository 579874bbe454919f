"""Comparing hard sets (SPEC section 7): overlap, Jaccard, stability, class distribution, correlation, tests.

Sets are bool masks over positions 0..N-1; overlap and Jaccard are both in percent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from hardness.identifiers.thresholds import count_per_class

MEASURES = ("overlap", "jaccard")


def _from_counts(intersection: torch.Tensor, size_a: torch.Tensor, size_b: torch.Tensor, measure: str) -> np.ndarray:
    """The measure from |A and B|, |A|, |B| (broadcast), NaN where its denominator is 0."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose overlap or jaccard")
    denominator = size_a if measure == "overlap" else size_a + size_b - intersection
    values = 100.0 * intersection.double() / denominator.double()
    return torch.where(denominator > 0, values, torch.nan).cpu().numpy()


def _paired(a: torch.Tensor, b: torch.Tensor, measure: str) -> np.ndarray:
    """The measure row by row for masks a, b of one shape [..., N]."""
    if a.shape != b.shape:
        raise ValueError(f"paired sets must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _from_counts((a & b).sum(-1), a.sum(-1), b.sum(-1), measure)


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) std ignoring NaN, e.g. pairs whose A was empty; NaN if nothing is left."""
    values = values[~np.isnan(values)]
    return (float(values.mean()), float(values.std())) if values.size else (float("nan"), float("nan"))


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """100 * |A and B| / |A| for masks [N] (asymmetric; NaN when A is empty)."""
    return float(_paired(a, b, "overlap"))


def jaccard(a: torch.Tensor, b: torch.Tensor) -> float:
    """100 * |A and B| / |A or B| for masks [N] (NaN when both are empty)."""
    return float(_paired(a, b, "jaccard"))


def paired_overlap(sets_a: torch.Tensor, sets_b: torch.Tensor, *, measure: str = "overlap") -> tuple[float, float]:
    """Mean and std of the measure over paired rows of masks [S, N] (row s of A with row s of B)."""
    return _mean_std(_paired(sets_a, sets_b, measure))


def stability(sets: torch.Tensor, *, measure: str = "overlap") -> tuple[float, float]:
    """Mean and std of the measure over all ordered pairs i != j of one identifier's masks [S, N]."""
    as_float = sets.double()
    sizes = sets.sum(-1)
    values = _from_counts(as_float @ as_float.T, sizes[:, None], sizes[None, :], measure)
    return _mean_std(values[~np.eye(len(sets), dtype=bool)])


def overlap_matrix(sets_by_name: dict[str, torch.Tensor], *, measure: str = "overlap") -> pd.DataFrame:
    """Rows A, columns B: mean over paired rows of the measure of A's masks [S, N] with B's masks [S, N]."""
    names = list(sets_by_name)
    values = [[paired_overlap(sets_by_name[a], sets_by_name[b], measure=measure)[0] for b in names] for a in names]
    return pd.DataFrame(values, index=names, columns=names)


def hard_counts_per_class(sets: torch.Tensor, labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Hard samples per class [S, n_classes] for masks [S, N] and labels [N]."""
    return count_per_class(sets, labels, n_classes).cpu().numpy()


def correlate_with_error(class_counts: np.ndarray, class_error: np.ndarray) -> tuple[float, float]:
    """Pearson r and p between hard counts per class [C] and class error rates [C] (NaN when either is constant)."""
    counts, error = np.asarray(class_counts, dtype=float), np.asarray(class_error, dtype=float)
    if len(counts) < 2 or np.ptp(counts) == 0 or np.ptp(error) == 0:
        return float("nan"), float("nan")
    result = stats.pearsonr(counts, error)
    return float(result.statistic), float(result.pvalue)


def paired_difference_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired t-test of a - b over matched entries [S] (e.g. two identifiers' gaps per cell): mean_diff, t, p, n.

    Pairs with a NaN are dropped (n counts the rest); t and p are NaN for n < 2 or differences that never vary.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values must have one shape, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    difference, n = a - b, len(a)
    mean_diff = float(difference.mean()) if n else float("nan")
    if n < 2 or np.allclose(difference, difference[0], rtol=1e-9, atol=1e-12):
        return {"mean_diff": mean_diff, "t": float("nan"), "p": float("nan"), "n": n}
    result = stats.ttest_rel(a, b)
    return {"mean_diff": mean_diff, "t": float(result.statistic), "p": float(result.pvalue), "n": n}
