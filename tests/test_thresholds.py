"""Thresholds on hand-made scores: dataset vs class level, ties, batches, errors."""

import pytest
import torch

from hardness.thresholds import (apply_threshold, count_per_class, flag_like, flag_quantile, flag_top_k,
                                 flag_top_k_per_class)

SCORES = torch.tensor([0.1, 0.9, 0.5, 0.9, 0.3, 0.7])
LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def _positions(mask):
    return mask.nonzero().flatten().tolist()


def test_top_k_takes_the_highest_scores():
    assert _positions(flag_top_k(SCORES, 2)) == [1, 3]
    assert _positions(flag_top_k(SCORES, 3)) == [1, 3, 5]
    assert _positions(flag_top_k(SCORES, 0)) == []


def test_ties_go_to_the_earlier_position():
    tied = torch.tensor([0.5, 0.5, 0.5, 0.1])
    assert _positions(flag_top_k(tied, 2)) == [0, 1]


def test_class_level_gives_each_class_its_own_count():
    mask = flag_top_k_per_class(SCORES, LABELS, torch.tensor([1, 2]))
    assert _positions(mask) == [1, 3, 5]
    assert count_per_class(mask, LABELS, 2).tolist() == [1, 2]


def test_quantile_keeps_the_top_fraction():
    assert _positions(flag_quantile(SCORES, 0.5)) == [1, 3, 5]
    assert not bool(flag_quantile(SCORES, 1.0).any())


def test_batches_of_rows_with_their_own_counts():
    scores = torch.stack([SCORES, -SCORES])
    masks = flag_top_k(scores, torch.tensor([1, 2]))
    assert [_positions(row) for row in masks] == [[1], [0, 4]]


def test_like_copies_the_reference_counts():
    reference = torch.tensor([[True, False, False, False, False, False], [True, True, False, True, False, False]])
    scores = torch.stack([SCORES, SCORES])
    dataset = flag_like(scores, LABELS, reference, level="dataset")
    assert dataset.sum(1).tolist() == [1, 3]
    by_class = flag_like(scores, LABELS, reference, level="class")
    assert count_per_class(by_class, LABELS, 2).tolist() == [[1, 0], [2, 1]]
    assert [_positions(row) for row in by_class] == [[1], [1, 2, 3]]


@pytest.mark.parametrize("call, message", [
    (lambda: flag_top_k(SCORES, 7), "0 <= k <= 6"),
    (lambda: flag_top_k(SCORES, -1), "0 <= k"),
    (lambda: flag_quantile(SCORES, 1.5), r"\[0, 1\]"),
    (lambda: flag_top_k_per_class(SCORES, LABELS, torch.tensor([4, 0])), "class size"),
    (lambda: flag_like(SCORES, LABELS, SCORES > 0, level="galaxy"), "dataset or class"),
    (lambda: apply_threshold(SCORES, LABELS, method="median"), "top_k, class_top_k or quantile"),
])
def test_bad_thresholds_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
