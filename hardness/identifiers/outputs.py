"""Identifiers that need only the final outputs of models trained for the whole epoch budget (or until they diverge)."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.data import Dataset
from hardness.divergence import DivergenceGuard
from hardness.engine import Engine
from hardness.models import build_ensemble
from hardness.progress import EpochProgress, Progress


def compute_final_logits(dataset: Dataset, config: Config, model_seeds: list[int], *,
                         progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [K, N, C], diverged [K] bool) of K models trained on all samples for config.train.epochs epochs;
    a diverged model stops and its logits are zeros (finite, so thresholds can run; its hard set is left out)."""
    engine = Engine(config.model, config.train, dataset.n_classes)
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, model_seeds)
    guard = DivergenceGuard(len(model_seeds), config.train.epochs)
    hooks = [guard] if progress is None else [guard, EpochProgress(progress, config.train.epochs)]
    fitted = engine.fit(ensemble, dataset.x, dataset.y, hooks=hooks, seed=config.seed)
    logits = engine.predict(fitted.ensemble, dataset.x)
    logits[guard.diverged] = 0.0
    return logits, guard.diverged
