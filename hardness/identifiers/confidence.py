"""Confidence identifier (SPEC section 5): a low largest logit (or true-class probability) means hard."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.divergence import DIVERGED
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Trained
from hardness.identifiers.outputs import read_final_logits
from hardness.identifiers.shared import FitPlan, PlannedIdentifier


def score_confidence(logits: torch.Tensor, labels: torch.Tensor, *, variant: str = "max_logit") -> torch.Tensor:
    """Scores [K, N] from logits [K, N, C]: minus the largest logit, or minus the true class's probability."""
    if variant == "max_logit":
        return -logits.max(dim=-1).values
    if variant == "true_class_probability":
        probabilities = torch.softmax(logits, dim=-1)
        return -probabilities.gather(-1, labels.expand(logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    raise ValueError(f"unknown confidence variant {variant!r}; choose max_logit or true_class_probability")


@register
class Confidence(PlannedIdentifier):
    """Hardness = lack of confidence of models trained for the full budget."""

    name = "confidence"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        variant = config.identifier.confidence_variant

        def finish(trained: Trained) -> Identification:
            scores = score_confidence(read_final_logits(dataset, trained), dataset.y, variant=variant)
            return Identification(self.name, scores, None, {"variant": variant, DIVERGED: trained.diverged})

        return FitPlan((), finish)
