"""Radii of class manifolds (SPEC section 3): pure functions on tensors; the inversion rule that reads them is in
hardness.identifiers.inversion.

Radius of class c: R_c^2 = 1/(2 n_c^2) sum_{x,y in c} |u_x - u_y|^2 = mean_c |u|^2 - |mean_c u|^2 with
u = z/|z|. Only per-class sums of u and |u|^2 are needed, so radii cost O(n*d) and can be accumulated
chunk by chunk.
"""

from __future__ import annotations

import torch


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
