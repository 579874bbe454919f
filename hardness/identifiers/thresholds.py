"""Turn per-sample hardness scores (HIGHER = HARDER) into hard masks: top-k, per-class top-k, quantile.

Every function takes scores [N] or a batch [K, N] (one row per model) and returns bool masks of the same
shape. Ties are broken deterministically by a stable sort: among equal scores the earlier position counts
as harder, so equal inputs always give equal masks.
"""

from __future__ import annotations

import torch


def _check_scores(scores: torch.Tensor) -> None:
    if scores.dim() not in (1, 2):
        raise ValueError(f"scores must be [N] or [K, N], got shape {tuple(scores.shape)}")
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores contain NaN; a NaN would silently sort as the hardest sample")


def _ranks(scores: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of each sample, 0 = hardest, within its row [..., N] (within its class when labels [N] are given)."""
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    rank_in_order = torch.arange(scores.shape[-1], device=scores.device).expand_as(order)
    if labels is not None:
        # A stable sort by label keeps the hardest-first order inside each class; subtract the class's start.
        order = order.gather(-1, torch.sort(labels[order], dim=-1, stable=True).indices)
        sizes = torch.bincount(labels)
        rank_in_order = rank_in_order - (torch.cumsum(sizes, 0) - sizes)[labels[order]]
    return torch.empty_like(order).scatter_(-1, order, rank_in_order)


def flag_top_k(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """The k hardest samples of each row of scores [N] or [K, N]; k is an int or a [K] tensor (one count per row)."""
    _check_scores(scores)
    n = scores.shape[-1]
    counts = torch.as_tensor(k, device=scores.device)
    if counts.is_floating_point() or counts.is_complex():
        raise ValueError(f"top-k needs an integer k, got {k}")
    if bool((counts < 0).any()) or bool((counts > n).any()):
        raise ValueError(f"top-k needs 0 <= k <= {n} (the number of samples), got {counts.tolist()}")
    return _ranks(scores) < counts.expand(scores.shape[:-1]).unsqueeze(-1)


def flag_top_k_per_class(scores: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Class c keeps its counts[c] hardest samples; scores [N] or [K, N], labels [N], counts [C] or [K, C]."""
    _check_scores(scores)
    counts = torch.as_tensor(counts, device=scores.device)
    n_classes = counts.shape[-1]
    if labels.numel() and int(labels.max()) >= n_classes:
        raise ValueError(f"counts has {n_classes} classes but labels go up to {int(labels.max())}")
    sizes = torch.bincount(labels, minlength=n_classes)
    if bool((counts < 0).any()) or bool((counts > sizes).any()):
        raise ValueError(f"per-class top-k needs 0 <= counts[c] <= class size {sizes.tolist()}, got {counts.tolist()}")
    return _ranks(scores, labels) < counts[..., labels]


def flag_quantile(scores: torch.Tensor, q: float) -> torch.Tensor:
    """The top (1 - q) fraction of each row, i.e. the round((1 - q) * N) samples above the q-quantile."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    # A count rather than a score cut: exact fraction, the same tie rule as top-k, q = 0 flags everything.
    return flag_top_k(scores, round((1.0 - q) * scores.shape[-1]))


def count_per_class(mask: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Flagged samples per class: [n_classes] for a mask [N], [K, n_classes] for masks [K, N]."""
    counts = torch.zeros(mask.shape[:-1] + (n_classes,), dtype=torch.long, device=mask.device)
    return counts.scatter_add_(-1, labels.expand_as(mask), mask.long())


def flag_like(scores: torch.Tensor, labels: torch.Tensor, reference_mask: torch.Tensor, *, level: str) -> torch.Tensor:
    """Masks shaped like scores with as many hard samples per row as reference_mask (same shape) has:
    in total (level "dataset") or class by class (level "class")."""
    if reference_mask.shape != scores.shape:
        raise ValueError(f"reference_mask {tuple(reference_mask.shape)} must match scores {tuple(scores.shape)}")
    if level == "dataset":
        return flag_top_k(scores, reference_mask.sum(-1))
    if level == "class":
        return flag_top_k_per_class(scores, labels, count_per_class(reference_mask, labels, int(labels.max()) + 1))
    raise ValueError(f"unknown threshold level {level!r}; choose dataset or class")

