"""VoG, variance of gradients (Agarwal, D'souza & Hooker, 2022, "Estimating Example Difficulty using Variance of
Gradients", CVPR): at checkpoints t = 1..M take S_t(x) = d z_y / d x, the gradient of the true-class pre-softmax
logit with respect to the input; per input feature (pixel) p the std over checkpoints
sqrt(1/M sum_t (S_t,p - mean_t S_t,p)^2), averaged over the D features, is VoG(x). As the paper does, the score is
class-normalised: (VoG - mu_c) / sigma_c with the mean and population std of VoG over the samples of x's class c, so
classes with steeper gradients do not take every hard slot (higher = harder).

Choices: M = `identifier.vog_checkpoints` epochs spread evenly over training (round(j E / M), j = 1..M, the last one
E; fewer when E < M), the models trained on all samples, on the engine's `input_grad` (over the standardised inputs).
Memory: the per-feature mean and M2 over checkpoints are running (Welford) accumulators [K, N, D] float32, 2 K N D x 4
bytes (5 seeds on 20k MNIST samples: 0.63 GB; on 70k: 2.2 GB); the gradients themselves arrive chunk by chunk.
"""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Moments, Observe, Trained, identified
from hardness.identifiers.shared import FitPlan, PlannedIdentifier


def compute_checkpoints(epochs: int, count: int) -> tuple[int, ...]:
    """`count` epochs spread evenly over 1..epochs, the last one `epochs` (fewer, no repeats, when count > epochs)."""
    return tuple(sorted({max(1, round(j * epochs / count)) for j in range(1, count + 1)}))


def normalise_per_class(values: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(values - class mean) / class population std per row of values [K, N] (0 where a class's std is 0)."""
    counts = torch.bincount(labels, minlength=n_classes).clamp_min(1).to(values.dtype)
    mean = values.new_zeros(values.shape[0], n_classes).index_add_(1, labels, values) / counts
    centred = values - mean[:, labels]
    std = (torch.zeros_like(mean).index_add_(1, labels, centred.square()) / counts).sqrt()[:, labels]
    return torch.where(std > 0, centred / std.clamp_min(torch.finfo(values.dtype).tiny), torch.zeros_like(centred))


def score_vog(gradient_std: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class-normalised VoG [K, N] from the per-feature std over checkpoints [K, N, D]."""
    return normalise_per_class(gradient_std.mean(-1), labels, n_classes)


@register
class VarianceOfGradients(PlannedIdentifier):
    """Hardness = how much the input gradient of the true logit changes over training, within the sample's class."""

    name = "vog"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        checkpoints = compute_checkpoints(config.train.epochs, config.identifier.vog_checkpoints)
        moments = Moments((n_models, dataset.n_samples, dataset.n_features), device=dataset.x.device)

        def finish(trained: Trained) -> Identification:
            scores = score_vog(moments.std, dataset.y, dataset.n_classes)
            return identified(self.name, scores, trained.diverged, checkpoints=checkpoints)

        return FitPlan((Observe("input_grad", checkpoints, moments),), finish)
