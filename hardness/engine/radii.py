"""Radii of class manifolds and the inversion rule (SPEC sections 3-4): pure functions on tensors.

Radius of class c: R_c^2 = 1/(2 n_c^2) sum_{x,y in c} |u_x - u_y|^2 = mean_c |u|^2 - |mean_c u|^2 with
u = z/|z|. Only per-class sums of u and |u|^2 are needed, so radii cost O(n*d) and can be accumulated
chunk by chunk.
"""

from __future__ import annotations

import torch

from hardness.config import InversionConfig


def compute_class_sums(latent: torch.Tensor, labels: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums of u = z/|z| ([K, n_classes, w], float64) and of |u|^2 ([K, n_classes]) for latent [K, N, w]."""
    unit = latent / latent.norm(dim=2, keepdim=True).clamp_min(1e-12)
    k, n, width = unit.shape
    onehot = torch.nn.functional.one_hot(labels, n_classes).to(unit.dtype).t()
    sums = (onehot @ unit.transpose(0, 1).reshape(n, k * width)).view(n_classes, k, width).transpose(0, 1)
    sums_sq = (unit * unit).sum(2) @ onehot.t()
    return sums.double(), sums_sq.double()


def compute_radii_from_sums(sums: torch.Tensor, sums_sq: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Radii [K, n_classes] from class sums and class sizes [n_classes] (NaN for an empty class)."""
    counts = counts.double()
    mean = sums / counts.view(1, -1, 1)
    squared = sums_sq / counts - (mean * mean).sum(2)
    return squared.clamp_min(0).sqrt().float()


def compute_radii(latent: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Radii [K, n_classes] of the class manifolds of latent [K, N, w] (or [N, w] for one model)."""
    if latent.dim() == 2:
        return compute_radii(latent.unsqueeze(0), labels, n_classes)[0]
    sums, sums_sq = compute_class_sums(latent, labels, n_classes)
    return compute_radii_from_sums(sums, sums_sq, torch.bincount(labels, minlength=n_classes))


def smooth_radii(radii: torch.Tensor, window: int) -> torch.Tensor:
    """Trailing moving average over epochs (dim 0) of radii [E, ...]; the first window-1 epochs average what exists."""
    if window == 1:
        return radii
    cumulative = torch.cumsum(radii.double(), dim=0)
    totals = cumulative.clone()
    totals[window:] -= cumulative[:-window]
    lengths = torch.clamp(torch.arange(1, len(radii) + 1, device=radii.device), max=window)
    lengths = lengths.view(-1, *([1] * (radii.dim() - 1)))
    return (totals / lengths).to(radii.dtype)


def is_check_epoch(epoch: int, rule: InversionConfig) -> bool:
    """Checks happen at warmup + j*check_every for j >= 1 (the first compares with the warm-up's end)."""
    since = epoch - rule.warmup
    return since >= rule.check_every and since % rule.check_every == 0


def compute_inverted_now(history: torch.Tensor, epoch: int, rule: InversionConfig) -> torch.Tensor:
    """Bool [...] : radius at `epoch` above radius `check_every` earlier (history [epochs so far, ...], smoothed)."""
    recent = history[: epoch + 1]
    smoothed = smooth_radii(recent[-(rule.check_every + rule.smoothing):], rule.smoothing)
    return smoothed[-1] > smoothed[-1 - rule.check_every]


def compute_inversion_epochs(radii: torch.Tensor, rule: InversionConfig) -> torch.Tensor:
    """First inversion epoch per curve for radii [E+1, ...] (epoch 0 first); -1 where a curve never inverts.

    Built from `compute_inverted_now` at every check epoch, so an online watcher calling that function agrees
    with this offline pass by construction; NaN radii (a model that stopped) never invert.
    """
    epochs = torch.full(radii.shape[1:], -1, dtype=torch.long, device=radii.device)
    for epoch in range(len(radii)):
        if is_check_epoch(epoch, rule):
            fresh = compute_inverted_now(radii, epoch, rule) & (epochs < 0)
            epochs[fresh] = epoch
    return epochs
