"""Data maps (Swayamdipta et al., 2020, "Dataset Cartography", EMNLP): over the models after epochs 1..E,
confidence mu(x) = mean_e p_e(y | x) and variability sigma(x) = std_e p_e(y | x) (population std, as the paper).

Two identifiers: `datamaps` scores -confidence (the paper's "hard-to-learn" region: low confidence), and
`datamaps_variability` scores variability (its "ambiguous" region). Choices: E epochs of full-budget training on
all samples, observed on all samples after each epoch (the paper logs each epoch's training predictions).
"""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Moments, identified, track_moments, training_epochs
from hardness.engine.progress import Progress

_REFERENCE = "Swayamdipta et al., 2020, Dataset Cartography (EMNLP)"


def track_true_probability(dataset: Dataset, config: Config, model_seeds: list[int], *,
                           progress: Progress | None = None) -> tuple[Moments, torch.Tensor]:
    """Moments of the true-class probability over epochs 1..E [K, N], and diverged [K]."""
    return track_moments(dataset, config, model_seeds, "true_prob", training_epochs(config.train.epochs),
                         progress=progress)


@register
class DataMapsConfidence:
    """Hardness = low mean true-class probability over training (hard to learn)."""

    name = "datamaps"
    kind = "scores"
    observes = "true-class probability of every epoch 1..E (score: minus its mean)"
    cost = "true_prob every epoch"
    reference = f"{_REFERENCE}: confidence"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        moments, diverged = track_true_probability(dataset, config, model_seeds, progress=progress)
        return identified(self.name, -moments.mean, diverged)


@register
class DataMapsVariability:
    """Hardness = variability of the true-class probability over training (ambiguous)."""

    name = "datamaps_variability"
    kind = "scores"
    observes = "true-class probability of every epoch 1..E (score: its std)"
    cost = "true_prob every epoch"
    reference = f"{_REFERENCE}: variability"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        moments, diverged = track_true_probability(dataset, config, model_seeds, progress=progress)
        return identified(self.name, moments.std, diverged)
