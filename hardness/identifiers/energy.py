"""Energy identifier (SPEC section 5): E(x) = -T * logsumexp(logits / T); high energy means hard."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.data import Dataset
from hardness.divergence import DIVERGED
from hardness.identifiers.base import Identification, register
from hardness.identifiers.outputs import compute_final_logits
from hardness.progress import Progress


def score_energy(logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """Energy scores [K, N] from logits [K, N, C] (higher = harder)."""
    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


@register
class Energy:
    """Hardness = energy of models trained for the full budget."""

    name = "energy"
    kind = "scores"
    observes = "logits of the final model (trained for the whole budget)"
    cost = "none"
    reference = "energy score (Liu et al., 2020)"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        logits, diverged = compute_final_logits(dataset, config, model_seeds, progress=progress)
        scores = score_energy(logits, temperature=config.identifier.temperature)
        details = {"temperature": config.identifier.temperature, DIVERGED: diverged}
        return Identification(self.name, scores, None, details)
