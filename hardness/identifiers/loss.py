"""Loss identifier: the per-sample cross-entropy -log p_y(x) (higher = harder).

Choices: the model after all E epochs, trained on all samples (the state confidence and energy read); with
`identifier.loss_average: true` the mean loss over the models after epochs 1..E, which also remembers samples
learned late (the loss-based analogue of AUM). The common baseline of the hardness literature (e.g. Arpit et al.,
2017, "A Closer Look at Memorization in Deep Networks": hard and noisy samples keep a high loss longest).
"""

from __future__ import annotations

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import register
from hardness.identifiers.dynamics import identified, training_epochs
from hardness.identifiers.shared import FitPlan, PlannedIdentifier, plan_moments


@register
class Loss(PlannedIdentifier):
    """Hardness = the sample's cross-entropy, at the end of training or averaged over it."""

    name = "loss"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        average = config.identifier.loss_average
        epochs = config.train.epochs
        return plan_moments(dataset, n_models, "loss", training_epochs(epochs) if average else (epochs,),
                            lambda moments, diverged: identified(self.name, moments.mean, diverged, averaged=average))
