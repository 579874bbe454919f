"""Overlap, Jaccard, stability, class counts, Pearson and the paired test on known values."""

import numpy as np
import pytest
import torch
from scipy import stats

from hardness.studies.benchmark.comparisons import (
    correlate_with_error,
    hard_counts_per_class,
    jaccard,
    overlap,
    overlap_matrix,
    paired_difference_test,
    paired_overlap,
    stability,
)


def _mask(positions, n=8):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(positions)] = True
    return mask


A, B, C, EMPTY = _mask({1, 2, 3}), _mask({2, 3, 4, 5}), _mask({1, 2}), _mask(set())


def test_overlap_and_jaccard_on_known_sets():
    assert overlap(A, B) == pytest.approx(66.67, abs=0.01)
    assert overlap(B, A) == pytest.approx(50.0)
    assert jaccard(A, B) == pytest.approx(40.0) and jaccard(B, A) == pytest.approx(40.0)
    assert overlap(A, A) == 100.0 and jaccard(A, A) == 100.0
    assert overlap(A, EMPTY) == 0.0 and jaccard(A, EMPTY) == 0.0
    assert np.isnan(overlap(EMPTY, B)) and np.isnan(jaccard(EMPTY, EMPTY))


def test_paired_overlap_and_jaccard():
    sets_a, sets_b = torch.stack([A, B]), torch.stack([B, B])
    mean, std = paired_overlap(sets_a, sets_b)
    assert mean == pytest.approx((200 / 3 + 100) / 2) and std == pytest.approx((100 - 200 / 3) / 2)
    mean, std = paired_overlap(sets_a, sets_b, measure="jaccard")
    assert mean == pytest.approx((40 + 100) / 2) and std == pytest.approx(30.0)


def test_pairs_with_an_empty_a_are_left_out_of_the_mean():
    mean, std = paired_overlap(torch.stack([A, EMPTY]), torch.stack([B, B]))
    assert mean == pytest.approx(200 / 3) and std == 0.0
    assert all(np.isnan(paired_overlap(EMPTY[None], B[None])))


def test_stability_over_ordered_pairs():
    sets = torch.stack([A, B, C])
    # A->B 2/3, B->A 2/4, A->C 2/3, C->A 2/2, B->C 1/4, C->B 1/2
    expected = 100 * np.array([2 / 3, 2 / 4, 2 / 3, 2 / 2, 1 / 4, 1 / 2])
    assert stability(sets) == pytest.approx((expected.mean(), expected.std()))
    expected = 100 * np.array([2 / 5, 2 / 3, 1 / 5] * 2)  # Jaccard is symmetric
    assert stability(sets, measure="jaccard") == pytest.approx((expected.mean(), expected.std()))
    assert stability(torch.stack([A, A])) == (100.0, 0.0)
    assert all(np.isnan(stability(A[None])))


def test_overlap_matrix_is_asymmetric_and_pairs_rows():
    sets = {"a": torch.stack([A, B]), "b": torch.stack([B, B])}
    matrix = overlap_matrix(sets)
    assert list(matrix.index) == ["a", "b"] and list(matrix.columns) == ["a", "b"]
    assert matrix.loc["a", "b"] == pytest.approx((200 / 3 + 100) / 2)
    assert matrix.loc["b", "a"] == pytest.approx((50 + 100) / 2)
    assert matrix.loc["a", "a"] == matrix.loc["b", "b"] == 100
    jaccard_matrix = overlap_matrix(sets, measure="jaccard")
    assert jaccard_matrix.loc["a", "b"] == jaccard_matrix.loc["b", "a"] == pytest.approx(70.0)


def test_class_counts_and_pearson():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    counts = hard_counts_per_class(torch.stack([A, B]), labels, 3)
    assert counts.tolist() == [[1, 2, 0], [0, 2, 2]]
    error = np.array([0.1, 0.3, 0.2])
    r, p = correlate_with_error(counts.mean(0), error)
    assert r == pytest.approx(np.corrcoef(counts.mean(0), error)[0, 1])
    assert p == pytest.approx(stats.pearsonr(counts.mean(0), error).pvalue)
    assert all(np.isnan(correlate_with_error(np.ones(3), error)))
    assert all(np.isnan(correlate_with_error(counts.mean(0), np.full(3, 0.2))))


def test_paired_test_matches_scipy():
    a, b = np.array([0.3, 0.25, 0.4, 0.35]), np.array([0.2, 0.22, 0.3, 0.2])
    result = paired_difference_test(a, b)
    expected = stats.ttest_rel(a, b)
    assert result["p"] == pytest.approx(expected.pvalue) and result["t"] == pytest.approx(expected.statistic)
    assert result["mean_diff"] == pytest.approx(0.095) and result["n"] == 4


def test_paired_test_edge_cases():
    a, b = np.array([0.3, 0.25, 0.4, 0.35]), np.array([0.2, 0.22, 0.3, 0.2])
    single = paired_difference_test(a[:1], b[:1])
    assert np.isnan(single["p"]) and single["mean_diff"] == pytest.approx(0.1) and single["n"] == 1
    with_nan = paired_difference_test(np.append(a, np.nan), np.append(b, 0.1))
    assert with_nan["n"] == 4 and with_nan["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    constant = paired_difference_test(a, a - 0.1)
    assert np.isnan(constant["t"]) and np.isnan(constant["p"]) and constant["mean_diff"] == pytest.approx(0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: paired_overlap(torch.stack([A, B]), B[None]), "paired sets must have one shape"),
    (lambda: stability(torch.stack([A, B]), measure="dice"), "unknown measure 'dice'; choose overlap or jaccard"),
    (lambda: overlap_matrix({"a": A[None]}, measure="dice"), "choose overlap or jaccard"),
    (lambda: paired_difference_test(np.ones(3), np.ones(2)), "paired values must have one shape"),
])
def test_bad_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
