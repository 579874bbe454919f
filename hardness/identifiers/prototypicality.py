"""Prototypicality (Sorscher et al., 2022, "Beyond neural scaling laws: beating power law scaling via data pruning",
NeurIPS): a sample far from its class prototype in representation space is hard. Score ||u(x) - mean_{c(x)} u||_2
(higher = harder), with u = z / ||z|| the latent layer's activation mapped to the unit sphere exactly as for the radii
(the radius of class c is the RMS of these distances) and mean_c u the mean of class c's u.

Choices: the paper clusters a self-supervised embedding (k-means) and measures the distance to the nearest centroid;
with labels at hand we use the class means (its supervised variant) in the network's own latent layer
(`model.latent_layer`, the radii's), of the model after all E epochs trained on all samples, over all samples.
"""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Latest, Observe, identified, train_observed


def to_unit_sphere(latent: torch.Tensor) -> torch.Tensor:
    """u = z / |z| over the last dimension of latent [..., width] (a zero vector stays zero), as the radii do."""
    return latent / latent.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def score_prototypicality(unit: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Distance [K, N] of each unit latent unit [K, N, width] from the mean of its class's (labels [N])."""
    counts = torch.bincount(labels, minlength=n_classes).clamp_min(1).to(unit.dtype)
    sums = unit.new_zeros(unit.shape[0], n_classes, unit.shape[2]).index_add_(1, labels, unit)
    prototypes = sums / counts.unsqueeze(1)
    return (unit - prototypes[:, labels]).norm(dim=-1)


@register
class Prototypicality:
    """Hardness = distance from the class prototype in the latent layer of the final model."""

    name = "prototypicality"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        unit = Latest((len(model_seeds), dataset.n_samples), device=dataset.x.device)
        hook = Observe("latent", (config.train.epochs,), unit, lambda latent, positions: to_unit_sphere(latent))
        trained = train_observed(dataset, config, model_seeds, [hook], progress=progress)
        return identified(self.name, score_prototypicality(unit.value, dataset.y, dataset.n_classes), trained.diverged)
