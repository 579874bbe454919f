"""Imbalance split: sizes, disjointness, hard/easy membership, shared test sets, determinism."""

import pytest
import torch

from hardness.splits import build_train_masks, compute_imbalance_split

HARD = torch.zeros(50, dtype=torch.bool)
HARD[:10] = True  # 10 hard, 40 easy


def test_sizes_for_a_hand_made_mask():
    split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=0.5, reduce="easy", seed=3)
    # hard: 7 train / 3 test; easy: 28 train -> 14 kept / 12 test
    assert (len(split.test_hard), len(split.test_easy), len(split.train)) == (3, 12, 7 + 14)
    assert int(HARD[split.train].sum()) == 7
    split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=0.0, reduce="hard", seed=3)
    assert int(HARD[split.train].sum()) == 0 and len(split.train) == 28


def test_parts_are_disjoint_and_keep_membership():
    split = compute_imbalance_split(HARD, train_ratio=0.5, remaining=1.0, reduce="easy", seed=0)
    train, test = set(split.train.tolist()), set(split.test.tolist())
    assert not train & test and len(train | test) == 50
    assert bool(HARD[split.test_hard].all()) and not bool(HARD[split.test_easy].any())


def test_test_sets_do_not_depend_on_remaining_or_reduce():
    reference = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=9)
    for remaining in (0.0, 0.25, 0.75):
        for reduce in ("easy", "hard"):
            split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=remaining, reduce=reduce, seed=9)
            assert torch.equal(split.test, reference.test)
            assert set(split.train.tolist()) <= set(reference.train.tolist())


def test_same_seed_same_split_and_other_seed_differs():
    a = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=1)
    b = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=1)
    c = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=2)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, c.train)


def test_train_masks_mark_each_split():
    splits = [compute_imbalance_split(HARD, train_ratio=0.7, remaining=f, reduce="easy", seed=1) for f in (0, 1)]
    masks = build_train_masks(splits, 50)
    assert masks.sum(1).tolist() == [7, 35]


@pytest.mark.parametrize("kwargs", [dict(train_ratio=1.0), dict(train_ratio=0.0), dict(remaining=1.5),
                                    dict(reduce="medium")])
def test_bad_arguments(kwargs):
    arguments = dict(train_ratio=0.7, remaining=0.5, reduce="easy", seed=0) | kwargs
    with pytest.raises(ValueError):
        compute_imbalance_split(HARD, **arguments)
