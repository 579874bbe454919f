"""Energy identifier (SPEC section 5): E(x) = -T * logsumexp(logits / T); high energy means hard."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.divergence import DIVERGED
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Trained
from hardness.identifiers.outputs import read_final_logits
from hardness.identifiers.shared import FitPlan, PlannedIdentifier


def score_energy(logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """Energy scores [K, N] from logits [K, N, C] (higher = harder)."""
    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


@register
class Energy(PlannedIdentifier):
    """Hardness = energy of models trained for the full budget."""

    name = "energy"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        temperature = config.identifier.temperature

        def finish(trained: Trained) -> Identification:
            scores = score_energy(read_final_logits(dataset, trained), temperature=temperature)
            return Identification(self.name, scores, None, {"temperature": temperature, DIVERGED: trained.diverged})

        return FitPlan((), finish)
