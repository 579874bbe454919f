"""What a search trial computes, without retraining the identifier (pure: tensors in, tensors out).

Identification runs once per process: score identifiers keep their scores; stragglers keep the radius
curves [E+1, K, C] and which samples each model got right at every epoch [E+1, K, N], so any inversion
rule (warm-up, check interval, smoothing) yields its straggler sets offline. A trial then thresholds or
re-derives the hard sets and measures the benchmark's quantity: the easy-minus-hard accuracy gap of
fresh models on held-out test samples (everything kept, `search.train_ratio` split).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from hardness.config import Config, InversionConfig
from hardness.data import Dataset
from hardness.engine import Engine, EpochState
from hardness.imbalance import Cell, evaluate_cells
from hardness.manifolds import compute_inversion_epochs
from hardness.models import build_ensemble
from hardness.thresholds import flag_top_k, flag_top_k_per_class


class TrainingHistory:
    """Engine hook keeping radii [E+1, K, C] and correctness [E+1, K, N] of every epoch."""

    def __init__(self, epochs: int, n_models: int, n_classes: int, n_samples: int):
        self.radii = torch.full((epochs + 1, n_models, n_classes), float("nan"))
        self.correct = torch.zeros(epochs + 1, n_models, n_samples, dtype=torch.bool)

    def on_epoch_end(self, state: EpochState) -> None:
        self.radii[state.epoch, state.models] = state.radii
        self.correct[state.epoch, state.models] = state.correct


def record_history(dataset: Dataset, config: Config, model_seeds: list[int]) -> TrainingHistory:
    """Train the identification models once for the whole budget, recording what any rule needs."""
    history = TrainingHistory(config.train.epochs, len(model_seeds), dataset.n_classes, dataset.n_samples)
    engine = Engine(config.model, config.train, dataset.n_classes)
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, model_seeds)
    engine.fit(ensemble, dataset.x, dataset.y, hooks=[history], observe_radii=True, seed=config.seed)
    return history


def compute_stragglers_for_rule(history: TrainingHistory, labels: torch.Tensor, rule: InversionConfig) -> torch.Tensor:
    """Straggler masks [K, N] under `rule` (own or last mode), from recorded history; no retries."""
    epochs = compute_inversion_epochs(history.radii, rule)
    k, n_classes = epochs.shape
    hard = torch.zeros(k, len(labels), dtype=torch.bool)
    for model in range(k):
        if rule.mode == "last":
            if bool((epochs[model] < 0).any()):
                continue
            hard[model] = ~history.correct[int(epochs[model].max()), model]
            continue
        for c in range(n_classes):
            if epochs[model, c] >= 0:
                members = labels == c
                hard[model, members] = ~history.correct[int(epochs[model, c]), model, members]
    return hard


def flag_fraction(scores: torch.Tensor, labels: torch.Tensor, fraction: float, *, level: str) -> torch.Tensor:
    """The hardest `fraction` of samples per row, over the dataset or within each class."""
    if level == "class":
        counts = torch.round(torch.bincount(labels) * fraction).long()
        return flag_top_k_per_class(scores, labels, counts)
    return flag_top_k(scores, round(fraction * scores.shape[-1]))


def score_gaps(dataset: Dataset, config: Config, hard_sets: torch.Tensor) -> Iterator[float]:
    """Mean easy-minus-hard accuracy gap per hard set, yielded one hard set at a time (for pruning)."""
    cells = [Cell(h, config.search.train_ratio, 1.0) for h in range(len(hard_sets))]
    for results in evaluate_cells(dataset, config, hard_sets, cells):
        for result in results:
            yield float(torch.as_tensor(result.metrics["gap/acc"]).nanmean())
