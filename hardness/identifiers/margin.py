"""Margin identifier: minus the final model's margin, -(z_y(x) - max_{j != y} z_j(x)) over logits z (higher = harder).

Choices: the model after all E epochs, trained on all samples; the margin is the engine's `margin` observation
(ties: a sample whose true logit ties the largest other one has margin 0). A negative margin means misclassified.
The per-epoch quantity of AUM (Pleiss et al., 2020), read once at the end instead of averaged (see aum.py).
"""

from __future__ import annotations

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import register
from hardness.identifiers.dynamics import identified
from hardness.identifiers.shared import FitPlan, PlannedIdentifier, plan_moments


@register
class Margin(PlannedIdentifier):
    """Hardness = a small (or negative) true-class margin of the final model."""

    name = "margin"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        return plan_moments(dataset, n_models, "margin", (config.train.epochs,),
                            lambda moments, diverged: identified(self.name, -moments.mean, diverged))
