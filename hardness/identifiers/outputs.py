"""Identifiers that need only the final outputs of models trained for the whole epoch budget."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.data import Dataset
from hardness.engine import Engine
from hardness.models import build_ensemble
from hardness.progress import EpochProgress, Progress


def compute_final_logits(dataset: Dataset, config: Config, model_seeds: list[int], *,
                         progress: Progress | None = None) -> torch.Tensor:
    """Logits [K, N, C] of K models trained on all samples for config.train.epochs epochs."""
    engine = Engine(config.model, config.train, dataset.n_classes)
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, model_seeds)
    hooks = [] if progress is None else [EpochProgress(progress, config.train.epochs)]
    fitted = engine.fit(ensemble, dataset.x, dataset.y, hooks=hooks, seed=config.seed)
    return engine.predict(fitted.ensemble, dataset.x)
