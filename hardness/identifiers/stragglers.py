"""Stragglers (SPEC section 4): samples a model still misclassifies when their class's radius inverts.

Training records each model's radius curves and a compact correctness history (`InversionWatcher`, an engine
hook that also decides early stopping); `hardness.identifiers.inversion.derive_stragglers` then turns each recorded attempt
into inversion epochs and straggler sets, the same function the search applies offline. A model whose training
diverges is stopped and left out: no inversion epochs, no stragglers, no retries (`hardness.engine.divergence`).

Retries (classes that never invert within the budget), bounded by `inversion.max_retries`:
- "own" mode: the models with a missing class train again from a fresh initialisation, watching only the missing
  classes, and stop once those inverted; each retried class takes its stragglers from the retry.
- "last" mode: as the reference code did, the whole model is identified again from a fresh initialisation; the
  model keeps the attempt in which most of its classes inverted (the earliest on ties), all classes from it.
A class still not inverted after the retries is reported with inversion epoch -1 and has no stragglers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hardness.config import Config, InversionConfig
from hardness.datasets.prepare import Dataset
from hardness.engine import EpochState, Hook
from hardness.engine.divergence import DIVERGED, DivergenceGuard
from hardness.engine.factory import build_engine
from hardness.engine.progress import Progress
from hardness.engine.seeds import RETRY_STREAM, derive_model_seeds
from hardness.identifiers.base import Identification, register
from hardness.identifiers.inversion import (
    CorrectnessHistory,
    StragglerSets,
    compute_inverted_now,
    derive_stragglers,
    is_check_epoch,
)


class InversionWatcher(Hook):
    """Engine hook recording radii [E+1, K, C], correctness and training loss of K models; stops a model that
    diverges (`guard`), and one whose watched classes inverted when `stop_when_inverted`."""

    observes = frozenset({"radii", "correct"})

    def __init__(self, rule: InversionConfig, n_samples: int, n_classes: int, *, epochs: int, watch: torch.Tensor,
                 stop_when_inverted: bool, progress: Progress | None = None):
        k = watch.shape[0]
        self.rule, self.watch, self.stop_when_inverted = rule, watch, stop_when_inverted
        self.progress, self.epochs = progress, epochs
        self.radii = torch.full((epochs + 1, k, n_classes), float("nan"), device=watch.device)
        self.correct = CorrectnessHistory(k, n_samples, device=watch.device)
        self.inversion_epoch = torch.full((k, n_classes), -1, dtype=torch.long, device=watch.device)
        self.guard = DivergenceGuard(k, epochs, device=watch.device)

    @property
    def diverged(self) -> torch.Tensor:
        """Bool [K]: the model's training diverged (it was stopped and derives no stragglers)."""
        return self.guard.diverged

    def finished(self) -> torch.Tensor:
        """Bool [K]: every watched class of the model has inverted."""
        return ((self.inversion_epoch >= 0) | ~self.watch).all(1)

    def on_epoch_end(self, state: EpochState) -> torch.Tensor | None:
        models, epoch = state.models, state.epoch
        self.radii[epoch, models] = state.radii
        self.correct.record(epoch, models, state.correct)
        if is_check_epoch(epoch, self.rule):
            pending = (self.inversion_epoch[models] < 0) & self.watch[models]
            newly = compute_inverted_now(self.radii[:, models], epoch, self.rule) & pending
            epochs = self.inversion_epoch[models]
            epochs[newly] = epoch
            self.inversion_epoch[models] = epochs
        if self.progress is not None:
            done = int((self.inversion_epoch >= 0).sum())
            self.progress(epoch, self.epochs, f"{done}/{int(self.watch.sum())} classes inverted")
        diverged = self.guard.on_epoch_end(state)
        return (diverged | self.finished()[models]) if self.stop_when_inverted else diverged

    def derive(self, labels: torch.Tensor, rule: InversionConfig | None = None) -> StragglerSets:
        """Inversion epochs and stragglers of the recorded attempt under `rule` (default: the watched rule); a
        diverged model has neither."""
        watch = self.watch & ~self.diverged.unsqueeze(1)
        return derive_stragglers(self.radii, self.correct, labels, rule or self.rule, watch=watch)


@dataclass(frozen=True)
class StragglerRun:
    """Everything a straggler identification found, for K models over N samples and C classes."""

    radii: torch.Tensor            # [E+1, K, C] first-attempt radius curves (NaN after a model stopped)
    inversion_epoch: torch.Tensor  # [K, C], -1 = never inverted within the budget and retries
    attempt: torch.Tensor          # [K, C], 0 = first initialisation, j = j-th retry
    hard: torch.Tensor             # [K, N] stragglers per model (own or last mode)
    loss: torch.Tensor             # [E+1, K] first-attempt training loss (NaN after a model stopped)
    diverged: torch.Tensor         # [K] bool: training diverged; no inversions, no stragglers

    def converged(self) -> StragglerRun:
        """The same run restricted to the models that did not diverge (what every summary is over)."""
        kept = ~self.diverged
        return StragglerRun(self.radii[:, kept], self.inversion_epoch[kept], self.attempt[kept], self.hard[kept],
                            self.loss[:, kept], self.diverged[kept])


def watch_training(dataset: Dataset, config: Config, model_seeds: list[int], *, watch: torch.Tensor | None = None,
                   stop: bool = False, seed: int, progress: Progress | None = None) -> InversionWatcher:
    """Train the models for the budget (or until their watched classes invert, when `stop`) and return the record."""
    engine, ensemble = build_engine(config, dataset, model_seeds)
    if watch is None:
        watch = torch.ones(len(model_seeds), dataset.n_classes, dtype=torch.bool, device=dataset.x.device)
    watcher = InversionWatcher(config.inversion, dataset.n_samples, dataset.n_classes, epochs=config.train.epochs,
                               watch=watch, stop_when_inverted=stop, progress=progress)
    engine.fit(ensemble, dataset.x, dataset.y, hooks=[watcher], seed=seed)
    return watcher


def find_stragglers(dataset: Dataset, config: Config, model_seeds: list[int], *, seed: int,
                    progress: Progress | None = None) -> StragglerRun:
    """Train the models, derive inversions and stragglers, retry classes that never invert (module docstring)."""
    first = watch_training(dataset, config, model_seeds, stop=config.inversion.stop_when_inverted, seed=seed,
                           progress=progress)
    found = first.derive(dataset.y)
    inversion_epoch, hard = found.inversion_epoch.clone(), found.hard.clone()
    attempt = torch.zeros_like(inversion_epoch)
    retry_whole = config.inversion.mode == "last"
    diverged = first.diverged
    for retry in range(1, config.inversion.max_retries + 1):
        missing = (inversion_epoch < 0) & ~diverged.unsqueeze(1)
        retried = missing.any(1).nonzero().squeeze(1)
        if len(retried) == 0:
            break
        fresh_seeds = derive_model_seeds(seed, len(model_seeds), stream=RETRY_STREAM + retry)
        watch = torch.ones_like(missing[retried]) if retry_whole else missing[retried]
        again = watch_training(dataset, config, [fresh_seeds[i] for i in retried.tolist()], watch=watch, stop=True,
                               seed=seed + retry).derive(dataset.y)
        if retry_whole:
            _keep_better_attempts(inversion_epoch, attempt, hard, retried, again, retry)
        else:
            _fill_retried_classes(inversion_epoch, attempt, hard, retried, again, retry, dataset.y)
        if progress is not None:  # the line ends on the count the tables show, retries included
            epochs = config.train.epochs
            progress(epochs, epochs, f"{int((inversion_epoch >= 0).sum())}/{inversion_epoch.numel()} classes inverted "
                                     f"after retry {retry}")
    return StragglerRun(first.radii, inversion_epoch, attempt, hard, first.guard.loss, diverged)


def _fill_retried_classes(inversion_epoch: torch.Tensor, attempt: torch.Tensor, hard: torch.Tensor,
                          retried: torch.Tensor, again: StragglerSets, retry: int, labels: torch.Tensor) -> None:
    """"own" mode, in place: classes that inverted in the retry take its epochs and stragglers."""
    found = again.inversion_epoch >= 0
    rows = found.any(1).nonzero().squeeze(1)
    for row in rows.tolist():
        model, classes = int(retried[row]), found[row].nonzero().squeeze(1)
        inversion_epoch[model, classes] = again.inversion_epoch[row, classes]
        attempt[model, classes] = retry
        samples = torch.isin(labels, classes)
        hard[model, samples] = again.hard[row, samples]


def _keep_better_attempts(inversion_epoch: torch.Tensor, attempt: torch.Tensor, hard: torch.Tensor,
                          retried: torch.Tensor, again: StragglerSets, retry: int) -> None:
    """"last" mode, in place: a retried model takes the whole retry when more of its classes inverted there."""
    before = (inversion_epoch[retried] >= 0).sum(1)
    after = (again.inversion_epoch >= 0).sum(1)
    better = after > before
    models = retried[better]
    inversion_epoch[models] = again.inversion_epoch[better]
    attempt[models] = retry
    hard[models] = again.hard[better]


@register
class Stragglers:
    """Hard set = stragglers at the inversion point of their class's radius."""

    name = "stragglers"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        run = find_stragglers(dataset, config, model_seeds, seed=config.seed, progress=progress)
        return Identification(self.name, None, run.hard, {"run": run, DIVERGED: run.diverged})

    def record(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
               progress: Progress | None = None) -> InversionWatcher:
        """One full-budget training (no early stop, no retries) from which any inversion rule can be derived."""
        return watch_training(dataset, config, model_seeds, seed=config.seed, progress=progress)
