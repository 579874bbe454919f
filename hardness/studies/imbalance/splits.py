"""The in-class imbalance split (SPEC section 6, steps 1-2) and per-model training masks."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImbalanceSplit:
    """Positions (into the prepared dataset) of the training samples and of the hard / easy test samples."""

    train: torch.Tensor
    test_hard: torch.Tensor
    test_easy: torch.Tensor

    @property
    def test(self) -> torch.Tensor:
        """All test positions: hard then easy."""
        return torch.cat([self.test_hard, self.test_easy])


def compute_imbalance_split(hard_mask: torch.Tensor, *, train_ratio: float, remaining: float, reduce: str,
                            seed: int) -> ImbalanceSplit:
    """Split positions 0..N-1 of hard_mask [N]: each group's first round(train_ratio * n) shuffled samples train,
    and only the first round(remaining * n_train) of the `reduce` group's ("easy" or "hard") training part stay.

    Shuffling and splitting come before reducing, so the test parts depend only on (hard_mask, train_ratio,
    seed), never on `remaining` or `reduce`: cells of one grid share their test sets. The draws and the positions are
    on the CPU whatever hard_mask's device, so every device gets the same split.
    """
    if hard_mask.dtype != torch.bool or hard_mask.dim() != 1:
        raise ValueError(f"hard_mask must be a bool tensor [N], got {hard_mask.dtype} {tuple(hard_mask.shape)}")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be strictly between 0 and 1, got {train_ratio}")
    if not 0.0 <= remaining <= 1.0:
        raise ValueError(f"remaining must be between 0 and 1, got {remaining}")
    if reduce not in ("easy", "hard"):
        raise ValueError(f"reduce must be 'easy' or 'hard', got {reduce!r}")
    hard_mask = hard_mask.cpu()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    parts = {}
    for group, members in (("hard", hard_mask.nonzero().squeeze(1)), ("easy", (~hard_mask).nonzero().squeeze(1))):
        shuffled = members[torch.randperm(len(members), generator=generator, device="cpu")]
        n_train = round(train_ratio * len(shuffled))
        train, test = shuffled[:n_train], shuffled[n_train:]
        if group == reduce:
            train = train[:round(remaining * len(train))]
        parts[group] = (train, test)
    train = torch.cat([parts["hard"][0], parts["easy"][0]])
    return ImbalanceSplit(train=train, test_hard=parts["hard"][1], test_easy=parts["easy"][1])


def build_train_masks(splits: list[ImbalanceSplit], n: int) -> torch.Tensor:
    """Bool [len(splits), n] on the CPU: row k marks split k's training positions (one model per split)."""
    masks = torch.zeros(len(splits), n, dtype=torch.bool, device="cpu")
    for row, split in enumerate(splits):
        masks[row, split.train] = True
    return masks
