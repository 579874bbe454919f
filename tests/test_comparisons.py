"""Overlap, Jaccard, stability, class counts, Pearson and the paired test on known values."""

import numpy as np
import pytest
import torch
from scipy import stats

from hardness.comparisons import (correlate_with_error, hard_counts_per_class, jaccard, overlap, overlap_matrix,
                                  paired_difference_test, paired_overlap, stability)


def _mask(positions, n=8):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(positions)] = True
    return mask


A, B = _mask({1, 2, 3}), _mask({2, 3, 4, 5})


def test_overlap_and_jaccard_on_known_sets():
    assert overlap(A, B) == pytest.approx(200 / 3)
    assert overlap(B, A) == pytest.approx(50.0)
    assert jaccard(A, B) == pytest.approx(0.4)
    assert np.isnan(overlap(_mask(set()), B)) and np.isnan(jaccard(_mask(set()), _mask(set())))


def test_paired_overlap_stability_and_matrix():
    sets_a = torch.stack([A, B])
    sets_b = torch.stack([B, B])
    mean, std = paired_overlap(sets_a, sets_b)
    assert mean == pytest.approx((200 / 3 + 100) / 2) and std == pytest.approx((100 - 200 / 3) / 2)
    assert stability(sets_a)[0] == pytest.approx((200 / 3 + 50) / 2)
    matrix = overlap_matrix({"a": sets_a, "b": sets_b})
    assert matrix.loc["a", "b"] == pytest.approx(mean) and matrix.loc["b", "b"] == 100


def test_class_counts_and_pearson():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    counts = hard_counts_per_class(torch.stack([A, B]), labels, 3)
    assert counts.tolist() == [[1, 2, 0], [0, 2, 2]]
    error = np.array([0.1, 0.3, 0.2])
    r, p = correlate_with_error(counts.mean(0), error)
    assert r == pytest.approx(np.corrcoef(counts.mean(0), error)[0, 1])
    assert np.isnan(correlate_with_error(np.ones(3), error)[0])


def test_paired_test_matches_scipy():
    a, b = np.array([0.3, 0.25, 0.4, 0.35]), np.array([0.2, 0.22, 0.3, 0.2])
    result = paired_difference_test(a, b)
    expected = stats.ttest_rel(a, b)
    assert result["p"] == pytest.approx(expected.pvalue) and result["t"] == pytest.approx(expected.statistic)
    assert result["mean_diff"] == pytest.approx(0.095) and result["n"] == 4
    assert np.isnan(paired_difference_test(a[:1], b[:1])["p"])
