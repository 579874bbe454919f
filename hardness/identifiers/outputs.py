"""Identifiers that need only the final outputs of models trained for the whole epoch budget."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.data import Dataset
from hardness.engine import Engine, EpochState
from hardness.identifiers.base import Progress
from hardness.models import build_ensemble


class _ProgressHook:
    def __init__(self, progress: Progress, epochs: int):
        self.progress, self.epochs = progress, epochs

    def on_epoch_end(self, state: EpochState) -> None:
        self.progress(state.epoch, self.epochs, f"loss {float(state.loss.mean()):.4f}")


def compute_final_logits(dataset: Dataset, config: Config, model_seeds: list[int], *,
                         progress: Progress | None = None) -> torch.Tensor:
    """Logits [K, N, C] of K models trained on all samples for config.train.epochs epochs."""
    engine = Engine(config.model, config.train, dataset.n_classes)
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, model_seeds)
    hooks = [] if progress is None else [_ProgressHook(progress, config.train.epochs)]
    fitted = engine.fit(ensemble, dataset.x, dataset.y, hooks=hooks, observe_radii=False, seed=config.seed)
    return engine.predict(fitted.ensemble, dataset.x)
