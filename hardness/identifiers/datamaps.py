"""Data maps (Swayamdipta et al., 2020, "Dataset Cartography", EMNLP): over the models after epochs 1..E,
confidence mu(x) = mean_e p_e(y | x) and variability sigma(x) = std_e p_e(y | x) (population std, as the paper).

Two identifiers: `datamaps` scores -confidence (the paper's "hard-to-learn" region: low confidence), and
`datamaps_variability` scores variability (its "ambiguous" region). Choices: E epochs of full-budget training on
all samples, observed on all samples after each epoch (the paper logs each epoch's training predictions). Both are
planned fits, so a study that runs them trains once for both and the other full-budget dynamics identifiers.
"""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import register
from hardness.identifiers.dynamics import Moments, identified, training_epochs
from hardness.identifiers.shared import FitPlan, PlannedIdentifier, plan_moments


class DataMaps(PlannedIdentifier):
    """Moments of the true-class probability over epochs 1..E [K, N]; `score` reads one of the two statistics."""

    name: str

    @staticmethod
    def score(moments: Moments) -> torch.Tensor:
        """Hardness [K, N] from the moments."""
        raise NotImplementedError

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        return plan_moments(dataset, n_models, "true_prob", training_epochs(config.train.epochs),
                            lambda moments, diverged: identified(self.name, self.score(moments), diverged))


@register
class DataMapsConfidence(DataMaps):
    """Hardness = low mean true-class probability over training (hard to learn)."""

    name = "datamaps"

    @staticmethod
    def score(moments: Moments) -> torch.Tensor:
        return -moments.mean


@register
class DataMapsVariability(DataMaps):
    """Hardness = variability of the true-class probability over training (ambiguous)."""

    name = "datamaps_variability"

    @staticmethod
    def score(moments: Moments) -> torch.Tensor:
        return moments.std
