"""AUM, area under the margin (Pleiss et al., 2020, "Identifying Mislabeled Data using the Area Under the Margin
Ranking", NeurIPS): AUM(x, y) = 1/T sum_t M_t(x, y) with M_t = z_y - max_{j != y} z_j the logit margin at epoch t;
the score is -AUM (higher = harder: mislabeled samples keep a negative margin while the others learn theirs).

Choices: T = E, the models after epochs 1..E, observed on all samples (the paper records the margin of each training
step's forward pass; in full-batch training that pass sees the weights after t - 1 steps, so ours is shifted by one
step). No threshold samples: thresholding is separate (hardness.identifiers.thresholds), as for every score identifier.
"""

from __future__ import annotations

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import register
from hardness.identifiers.dynamics import identified, training_epochs
from hardness.identifiers.shared import FitPlan, PlannedIdentifier, plan_moments


@register
class AreaUnderMargin(PlannedIdentifier):
    """Hardness = minus the margin averaged over training."""

    name = "aum"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        return plan_moments(dataset, n_models, "margin", training_epochs(config.train.epochs),
                            lambda moments, diverged: identified(self.name, -moments.mean, diverged))
