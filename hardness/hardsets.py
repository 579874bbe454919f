"""From an identification to hard sets [K, N]: sets pass through, scores are thresholded (SPEC section 5).

The benchmark compares identifiers at equal size: `like_stragglers` gives each score identifier's
model k the same number of hard samples as the stragglers of the paired model k (over the whole
dataset, or class by class).
"""

from __future__ import annotations

import torch

from hardness.config import ThresholdConfig
from hardness.errors import HardnessError
from hardness.identifiers.base import Identification
from hardness.thresholds import flag_like, flag_quantile, flag_top_k, flag_top_k_per_class


def compute_hard_sets(identification: Identification, labels: torch.Tensor, n_classes: int,
                      threshold: ThresholdConfig, *, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Hard masks [K, N]: a set identification passes through; `reference` [K, N] (the baseline's sets) is needed
    by the like_stragglers method."""
    if identification.scores is None:
        return identification.hard
    scores = identification.scores
    if threshold.method == "like_stragglers":
        if reference is None:
            raise HardnessError("threshold.method like_stragglers needs the stragglers' sets; "
                                "run it through `hardness benchmark` or choose top_k / quantile")
        return flag_like(scores, labels, reference, level=threshold.level)
    if threshold.method == "top_k":
        if threshold.level == "class":
            counts = torch.full((n_classes,), threshold.k, dtype=torch.long)
            return flag_top_k_per_class(scores, labels, counts)
        return flag_top_k(scores, threshold.k)
    return flag_quantile(scores, threshold.quantile)
