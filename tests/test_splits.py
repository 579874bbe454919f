"""Imbalance split: sizes, disjointness, hard/easy membership, shared test sets, determinism."""

import pytest
import torch

from hardness.studies.imbalance.splits import build_train_masks, compute_imbalance_split

HARD = torch.zeros(50, dtype=torch.bool)
HARD[::5] = True  # 10 hard, 40 easy, interleaved


def test_sizes_for_a_hand_made_mask():
    split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=0.5, reduce="easy", seed=3)
    # hard: 7 train / 3 test; easy: 28 train -> 14 kept / 12 test
    assert (len(split.test_hard), len(split.test_easy), len(split.train)) == (3, 12, 7 + 14)
    assert int(HARD[split.train].sum()) == 7
    split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=0.5, reduce="hard", seed=3)
    # hard: 7 train -> round(3.5) = 4 kept (Python rounds half to even); easy: 28 train kept whole
    assert int(HARD[split.train].sum()) == 4 and len(split.train) == 4 + 28
    split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=0.0, reduce="hard", seed=3)
    assert int(HARD[split.train].sum()) == 0 and len(split.train) == 28


def test_parts_are_disjoint_and_keep_membership():
    for reduce in ("easy", "hard"):
        split = compute_imbalance_split(HARD, train_ratio=0.5, remaining=1.0, reduce=reduce, seed=0)
        train, test = set(split.train.tolist()), set(split.test.tolist())
        assert not train & test and len(train | test) == 50 and len(split.test) == len(test)
        assert bool(HARD[split.test_hard].all()) and not bool(HARD[split.test_easy].any())
        assert torch.equal(split.test, torch.cat([split.test_hard, split.test_easy]))


def test_test_sets_do_not_depend_on_remaining_or_reduce():
    reference = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=9)
    for remaining in (0.0, 0.05, 0.25, 0.75, 1.0):
        for reduce in ("easy", "hard"):
            split = compute_imbalance_split(HARD, train_ratio=0.7, remaining=remaining, reduce=reduce, seed=9)
            assert torch.equal(split.test_hard, reference.test_hard)
            assert torch.equal(split.test_easy, reference.test_easy)
            assert set(split.train.tolist()) <= set(reference.train.tolist())
            kept = HARD[split.train] if reduce == "easy" else ~HARD[split.train]
            assert int(kept.sum()) == (7 if reduce == "easy" else 28)  # the other group trains whole


def test_same_seed_same_split_and_other_seed_differs():
    a = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=1)
    b = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=1)
    c = compute_imbalance_split(HARD, train_ratio=0.7, remaining=1.0, reduce="easy", seed=2)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train)


def test_all_easy_mask_gives_an_empty_hard_test_set():
    split = compute_imbalance_split(torch.zeros(20, dtype=torch.bool), train_ratio=0.9, remaining=0.5, reduce="hard",
                                    seed=0)
    assert (len(split.train), len(split.test_hard), len(split.test_easy)) == (18, 0, 2)


def test_train_masks_mark_each_split():
    splits = [compute_imbalance_split(HARD, train_ratio=0.7, remaining=f, reduce="easy", seed=1) for f in (0, 1)]
    masks = build_train_masks(splits, 50)
    assert masks.shape == (2, 50) and masks.dtype == torch.bool
    assert masks.sum(1).tolist() == [7, 35]
    for row, split in zip(masks, splits):
        assert row.nonzero().flatten().tolist() == sorted(split.train.tolist())


@pytest.mark.parametrize("kwargs, message", [
    ({"train_ratio": 1.0}, "train_ratio must be strictly between 0 and 1"),
    ({"train_ratio": 0.0}, "train_ratio must be strictly between 0 and 1"),
    ({"remaining": 1.5}, "remaining must be between 0 and 1"),
    ({"remaining": -0.1}, "remaining must be between 0 and 1"),
    ({"reduce": "medium"}, "reduce must be 'easy' or 'hard'"),
    ({"hard_mask": HARD.long()}, "hard_mask must be a bool tensor"),
])
def test_bad_arguments(kwargs, message):
    arguments = {"hard_mask": HARD, "train_ratio": 0.7, "remaining": 0.5, "reduce": "easy", "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        compute_imbalance_split(arguments.pop("hard_mask"), **arguments)
