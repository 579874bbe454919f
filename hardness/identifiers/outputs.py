"""Identifiers that need only the final outputs of models trained for the whole epoch budget (or until they diverge)."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.identifiers.dynamics import Trained, train_observed


def compute_final_logits(dataset: Dataset, config: Config, model_seeds: list[int], *,
                         train_mask: torch.Tensor | None = None,
                         progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [K, N, C] over all samples, diverged [K] bool) of K models trained on all samples (or their train_mask
    [K, N]) for config.train.epochs epochs; a diverged model stops and its logits are zeros (finite, so thresholds can
    run; its hard set is left out)."""
    trained = train_observed(dataset, config, model_seeds, train_mask=train_mask, progress=progress)
    return read_final_logits(dataset, trained), trained.diverged


def read_final_logits(dataset: Dataset, trained: Trained) -> torch.Tensor:
    """Logits [K, N, C] of the trained models over all samples, zeros for the diverged ones."""
    logits = trained.engine.predict(trained.fitted.ensemble, dataset.x)
    logits[trained.diverged] = 0.0
    return logits
