"""Thresholds on hand-made scores: dataset vs class level, ties, quantiles, batches, errors."""

import pytest
import torch

from hardness.identifiers.thresholds import (
    count_per_class,
    flag_like,
    flag_quantile,
    flag_top_k,
    flag_top_k_per_class,
)

SCORES = torch.tensor([0.1, 0.9, 0.5, 0.9, 0.3, 0.7])
LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def _positions(mask):
    return mask.nonzero().flatten().tolist()


def _naive_per_class(scores, labels, counts):
    """Reference: within each class sort by (score descending, position ascending) and keep counts[c]."""
    hard = set()
    for c, count in enumerate(counts.tolist()):
        members = [i for i in range(len(labels)) if labels[i] == c]
        hard |= set(sorted(members, key=lambda i: (-float(scores[i]), i))[:count])
    return sorted(hard)


def test_top_k_takes_the_highest_scores():
    assert _positions(flag_top_k(torch.tensor([0.1, 0.9, 0.5, 0.9]), 2)) == [1, 3]
    assert _positions(flag_top_k(SCORES, 3)) == [1, 3, 5]
    assert _positions(flag_top_k(SCORES, 0)) == []
    assert _positions(flag_top_k(SCORES, 6)) == list(range(6))


def test_ties_go_to_the_earlier_position():
    tied = torch.tensor([0.1, 0.5, 0.5, 0.5, 0.2])
    assert _positions(flag_top_k(tied, 2)) == [1, 2]
    assert _positions(flag_top_k(SCORES, 1)) == [1]  # 0.9 at positions 1 and 3
    constant = torch.zeros(5)
    assert _positions(flag_top_k(constant, 3)) == [0, 1, 2]


def test_class_level_gives_each_class_its_own_count():
    mask = flag_top_k_per_class(SCORES, LABELS, torch.tensor([1, 2]))
    assert _positions(mask) == [1, 3, 5]
    assert count_per_class(mask, LABELS, 2).tolist() == [1, 2]
    assert _positions(flag_top_k_per_class(SCORES, LABELS, torch.tensor([0, 3]))) == [3, 4, 5]


def test_class_level_with_interleaved_labels_and_ties_matches_a_naive_loop():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (3, 60), generator=generator).float()  # many ties
    labels = torch.randint(0, 5, (60,), generator=generator)
    sizes = torch.bincount(labels, minlength=5)
    counts = torch.stack([torch.div(sizes * (i + 1), 4, rounding_mode="floor") for i in range(3)])
    masks = flag_top_k_per_class(scores, labels, counts)
    for row in range(3):
        assert _positions(masks[row]) == _naive_per_class(scores[row], labels, counts[row])
    assert count_per_class(masks, labels, 5).tolist() == counts.tolist()


def test_quantile_keeps_the_top_fraction():
    assert _positions(flag_quantile(SCORES, 0.5)) == [1, 3, 5]
    assert _positions(flag_quantile(torch.arange(10.0), 0.9)) == [9]
    assert _positions(flag_quantile(torch.arange(10.0), 0.7)) == [7, 8, 9]
    assert bool(flag_quantile(SCORES, 0.0).all())
    assert not bool(flag_quantile(SCORES, 1.0).any())


def test_batches_match_row_by_row():
    generator = torch.Generator().manual_seed(1)
    scores = torch.rand(4, 30, generator=generator)
    labels = torch.randint(0, 3, (30,), generator=generator)
    counts = torch.tensor([2, 1, 3])
    for batch, single in [(flag_top_k(scores, 5), lambda row: flag_top_k(row, 5)),
                          (flag_quantile(scores, 0.8), lambda row: flag_quantile(row, 0.8)),
                          (flag_top_k_per_class(scores, labels, counts),
                           lambda row: flag_top_k_per_class(row, labels, counts))]:
        assert batch.shape == (4, 30) and batch.dtype == torch.bool
        assert torch.equal(batch, torch.stack([single(row) for row in scores]))


def test_batches_of_rows_with_their_own_counts():
    scores = torch.stack([SCORES, -SCORES])
    masks = flag_top_k(scores, torch.tensor([1, 2]))
    assert [_positions(row) for row in masks] == [[1], [0, 4]]


def test_count_per_class():
    mask = torch.tensor([True, False, True, True, False, False])
    assert count_per_class(mask, LABELS, 3).tolist() == [2, 1, 0]
    assert count_per_class(torch.stack([mask, ~mask]), LABELS, 2).tolist() == [[2, 1], [1, 2]]


def test_like_copies_the_reference_counts():
    reference = torch.tensor([[True, False, False, False, False, False], [True, True, False, True, False, False]])
    scores = torch.stack([SCORES, SCORES])
    dataset = flag_like(scores, LABELS, reference, level="dataset")
    assert dataset.sum(1).tolist() == [1, 3]
    assert [_positions(row) for row in dataset] == [[1], [1, 3, 5]]
    by_class = flag_like(scores, LABELS, reference, level="class")
    assert count_per_class(by_class, LABELS, 2).tolist() == [[1, 0], [2, 1]]
    assert [_positions(row) for row in by_class] == [[1], [1, 2, 3]]
    assert _positions(flag_like(SCORES, LABELS, reference[1], level="class")) == [1, 2, 3]


@pytest.mark.parametrize("call, message", [
    (lambda: flag_top_k(SCORES, 7), r"0 <= k <= 6 \(the number of samples\), got 7"),
    (lambda: flag_top_k(SCORES, -1), "0 <= k"),
    (lambda: flag_top_k(SCORES, 2.5), "integer k"),
    (lambda: flag_top_k(torch.tensor([0.1, float("nan")]), 1), "NaN"),
    (lambda: flag_top_k(torch.zeros(2, 2, 2), 1), r"\[N\] or \[K, N\]"),
    (lambda: flag_quantile(SCORES, 1.5), r"quantile must be in \[0, 1\]"),
    (lambda: flag_quantile(SCORES, -0.1), r"quantile must be in \[0, 1\]"),
    (lambda: flag_top_k_per_class(SCORES, LABELS, torch.tensor([4, 0])), r"class size \[3, 3\]"),
    (lambda: flag_top_k_per_class(SCORES, LABELS, torch.tensor([-1, 0])), "0 <= counts"),
    (lambda: flag_top_k_per_class(SCORES, LABELS, torch.tensor([1])), "counts has 1 classes but labels go up to 1"),
    (lambda: flag_like(SCORES, LABELS, SCORES > 0, level="galaxy"), "choose dataset or class"),
    (lambda: flag_like(SCORES, LABELS, torch.ones(2, 6, dtype=torch.bool), level="dataset"), "must match scores"),
])
def test_bad_thresholds_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
