"""Turn per-sample hardness scores (HIGHER = HARDER) into hard masks: top-k, per-class top-k, quantile.

Every function takes scores [N] or a batch [K, N] and returns bool masks of the same shape. Ties are
broken deterministically: among equal scores the earlier position counts as harder (stable sort).
"""

from __future__ import annotations

import torch


def _hardest_first(scores: torch.Tensor) -> torch.Tensor:
    """Positions ordered hardest first, ties by position (stable)."""
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices


def flag_top_k(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """The k hardest samples of each row; k may be an int or a [K] tensor (one count per row)."""
    n = scores.shape[-1]
    counts = torch.as_tensor(k).expand(scores.shape[:-1]) if scores.dim() > 1 else torch.as_tensor(k)
    if bool((counts < 0).any()) or bool((counts > n).any()):
        raise ValueError(f"top-k needs 0 <= k <= {n} (the number of samples), got {k}")
    ranks = torch.empty_like(_hardest_first(scores)).scatter_(
        -1, _hardest_first(scores), torch.arange(n).expand_as(scores).contiguous())
    return ranks < counts.unsqueeze(-1) if scores.dim() > 1 else ranks < counts


def flag_top_k_per_class(scores: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Class c keeps its counts[c] hardest samples (counts [C] or [K, C] for a batch)."""
    if scores.dim() == 1:
        return flag_top_k_per_class(scores.unsqueeze(0), labels, counts.view(1, -1))[0]
    counts = counts.expand(scores.shape[0], -1) if counts.dim() == 1 else counts
    sizes = torch.bincount(labels, minlength=counts.shape[1])
    if bool((counts < 0).any()) or bool((counts > sizes).any()):
        raise ValueError(f"per-class top-k needs 0 <= counts[c] <= class size {sizes.tolist()}, got {counts.tolist()}")
    mask = torch.zeros_like(scores, dtype=torch.bool)
    for c in range(counts.shape[1]):
        members = (labels == c).nonzero().squeeze(1)
        mask[:, members] = flag_top_k(scores[:, members], counts[:, c])
    return mask


def flag_quantile(scores: torch.Tensor, q: float) -> torch.Tensor:
    """Samples scoring strictly above the row's q-quantile (the top (1 - q) fraction)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    threshold = torch.quantile(scores.double(), q, dim=-1, keepdim=True)
    return scores.double() > threshold


def count_per_class(mask: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Hard samples per class: [C] for a mask [N], [K, C] for masks [K, N]."""
    onehot = torch.nn.functional.one_hot(labels, n_classes).to(torch.long)
    return mask.long() @ onehot


def flag_like(scores: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor, *, level: str) -> torch.Tensor:
    """As many hard samples as `reference` has, row by row: in total ("dataset") or class by class ("class")."""
    if level == "dataset":
        return flag_top_k(scores, reference.sum(-1))
    if level == "class":
        return flag_top_k_per_class(scores, labels, count_per_class(reference, labels, int(labels.max()) + 1))
    raise ValueError(f"unknown threshold level {level!r}; choose dataset or class")


def apply_threshold(scores: torch.Tensor, labels: torch.Tensor, *, method: str, k: int | None = None,
                    counts: torch.Tensor | None = None, q: float | None = None) -> torch.Tensor:
    """Dispatch by name: top_k (k), class_top_k (counts), quantile (q)."""
    if method == "top_k":
        return flag_top_k(scores, k)
    if method == "class_top_k":
        return flag_top_k_per_class(scores, labels, counts)
    if method == "quantile":
        return flag_quantile(scores, q)
    raise ValueError(f"unknown threshold method {method!r}; choose top_k, class_top_k or quantile")
