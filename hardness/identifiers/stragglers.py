"""Stragglers (SPEC section 4): samples a model still misclassifies when their class's radius inverts.

`InversionWatcher` is an engine hook: it keeps every model's radius curves, marks each class's
inversion epoch by the configured rule, and snapshots the misclassified samples of that class at
that very epoch ("own" mode) and of all classes at the model's last inversion ("last" mode, as the
original experiments effectively did). Classes that never invert are retried with fresh
initialisations a bounded number of times, then reported with inversion epoch -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hardness.config import Config, InversionConfig
from hardness.data import Dataset
from hardness.engine import Engine, EpochState
from hardness.identifiers.base import Identification, Progress, derive_model_seeds, register
from hardness.manifolds import compute_inverted_now, is_check_epoch
from hardness.models import build_ensemble


class InversionWatcher:
    """Engine hook recording radii, inversion epochs and straggler snapshots for K models."""

    def __init__(self, rule: InversionConfig, labels: torch.Tensor, n_classes: int, *, epochs: int,
                 watch: torch.Tensor, stop_when_inverted: bool, progress: Progress | None = None):
        k = watch.shape[0]
        self.rule, self.labels, self.watch, self.stop_when_inverted = rule, labels, watch, stop_when_inverted
        self.progress, self.epochs = progress, epochs
        self.radii = torch.full((epochs + 1, k, n_classes), float("nan"))
        self.inversion_epoch = torch.full((k, n_classes), -1, dtype=torch.long)
        self.own = torch.zeros(k, len(labels), dtype=torch.bool)
        self.last = torch.zeros(k, len(labels), dtype=torch.bool)
        self.last_epoch = torch.full((k,), -1, dtype=torch.long)

    def finished(self) -> torch.Tensor:
        """Bool [K]: every watched class of the model has inverted."""
        return ((self.inversion_epoch >= 0) | ~self.watch).all(1)

    def on_epoch_end(self, state: EpochState) -> torch.Tensor | None:
        models, epoch = state.models, state.epoch
        self.radii[epoch, models] = state.radii
        if is_check_epoch(epoch, self.rule):
            self._check(state)
        if self.progress is not None:
            done = int((self.inversion_epoch >= 0).sum())
            self.progress(epoch, self.epochs, f"{done}/{int(self.watch.sum())} classes inverted")
        return self.finished()[models] if self.stop_when_inverted else None

    def _check(self, state: EpochState) -> None:
        models, epoch = state.models, state.epoch
        was_finished = self.finished()[models]
        pending = (self.inversion_epoch[models] < 0) & self.watch[models]
        newly = compute_inverted_now(self.radii[:, models], epoch, self.rule) & pending
        if not bool(newly.any()):
            return
        misclassified = ~state.correct
        self.own[models] |= newly[:, self.labels] & misclassified
        epochs = self.inversion_epoch[models]
        epochs[newly] = epoch
        self.inversion_epoch[models] = epochs
        completed = self.finished()[models] & ~was_finished
        self.last[models[completed]] = misclassified[completed]
        self.last_epoch[models[completed]] = epoch


@dataclass(frozen=True)
class StragglerRun:
    """Everything a straggler identification found, for K models over N samples and C classes."""

    radii: torch.Tensor            # [E+1, K, C] first-attempt radius curves (NaN after a model stopped)
    inversion_epoch: torch.Tensor  # [K, C], -1 = never inverted within the budget and retries
    attempt: torch.Tensor          # [K, C], 0 = first initialisation, j = j-th retry
    hard: torch.Tensor             # [K, N] stragglers per model (own or last mode)


def find_stragglers(dataset: Dataset, config: Config, model_seeds: list[int], *, seed: int,
                    progress: Progress | None = None) -> StragglerRun:
    """Train the models, detect inversions, retry classes that never invert, and collect stragglers."""
    engine = Engine(config.model, config.train, dataset.n_classes)
    k, n_classes = len(model_seeds), dataset.n_classes
    watch = torch.ones(k, n_classes, dtype=torch.bool)
    watcher = _watch(engine, dataset, config, model_seeds, watch, seed=seed,
                     stop=config.inversion.stop_when_inverted, progress=progress)
    inversion_epoch, attempt = watcher.inversion_epoch.clone(), torch.zeros(k, n_classes, dtype=torch.long)
    hard = (watcher.own if config.inversion.mode == "own" else watcher.last).clone()
    for retry in range(1, config.inversion.max_retries + 1):
        missing = inversion_epoch < 0
        retried = missing.any(1).nonzero().squeeze(1)
        if len(retried) == 0:
            break
        fresh_seeds = derive_model_seeds(seed, k, stream=retry)
        again = _watch(engine, dataset, config, [fresh_seeds[i] for i in retried], missing[retried],
                       seed=seed + retry, stop=True, progress=None)
        found = again.inversion_epoch >= 0
        for row, model in enumerate(retried.tolist()):
            classes = found[row].nonzero().squeeze(1)
            inversion_epoch[model, classes] = again.inversion_epoch[row, classes]
            attempt[model, classes] = retry
            samples = torch.isin(dataset.y, classes)
            hard[model, samples] = again.own[row, samples]
    if config.inversion.mode == "last":
        # a class still uninverted has no snapshot in "last" mode either
        hard &= (inversion_epoch >= 0)[:, dataset.y]
    return StragglerRun(watcher.radii, inversion_epoch, attempt, hard)


def _watch(engine: Engine, dataset: Dataset, config: Config, model_seeds: list[int], watch: torch.Tensor, *,
           seed: int, stop: bool, progress: Progress | None) -> InversionWatcher:
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, model_seeds)
    watcher = InversionWatcher(config.inversion, dataset.y, dataset.n_classes, epochs=config.train.epochs,
                               watch=watch, stop_when_inverted=stop, progress=progress)
    engine.fit(ensemble, dataset.x, dataset.y, hooks=[watcher], observe_radii=True, seed=seed)
    return watcher


@register
class Stragglers:
    """Hard set = stragglers; score = 1 for a straggler, 0 otherwise (a set, so thresholds copy its counts)."""

    name = "stragglers"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        run = find_stragglers(dataset, config, model_seeds, seed=config.seed, progress=progress)
        return Identification(self.name, run.hard.float(), run.hard, {"run": run})
