"""Training dynamics for identifiers: train K models with the hooks that observe them, and the sinks those hooks fill.

An identifier that reads how training went subscribes one `Observe` hook per observation it needs (names in
hardness.engine.observations) at the epochs it needs, and the hook folds each observation into a sink indexed
[K, N, ...] by model slot and sample: `Moments` (running mean and variance) or `Latest` (the last value). Epoch e
is the ensemble after e training steps; identifiers of training dynamics read epochs 1..E (`training_epochs`),
every state training produced, not the random initialisation. The engine computes only what some hook wants at an
epoch, so epochs nobody observes cost nothing extra.

A model whose training diverges is stopped by a `DivergenceGuard`; its rows stop filling, `identified` zeroes its
scores (finite, so thresholds run) and marks it, and every study leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine import HEAVY, Engine, EpochState, FitResult, Hook
from hardness.engine.divergence import DIVERGED, DivergenceGuard
from hardness.engine.factory import build_engine
from hardness.engine.progress import EpochProgress, Progress
from hardness.identifiers.base import Identification

Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""transform(values [K', P, ...], positions [P]) -> what the sink stores for those samples [K', P, ...]."""


def training_epochs(epochs: int) -> range:
    """The epochs 1..E whose models training produced (epoch 0 is the initialisation)."""
    return range(1, epochs + 1)


def early_epoch(config: Config, epoch: int) -> int:
    """The early epoch an identifier reads: `epoch`, or the last one when the budget is shorter."""
    return min(epoch, config.train.epochs)


def flat_rows(models: torch.Tensor, positions: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Rows [K' P] of the (model slot, sample) pairs models [K'] x positions [P] in a [K, N, ...] tensor viewed as
    [K N, ...]: index_select / index_copy_ on them are far faster than 2-d advanced indexing."""
    return (models.unsqueeze(1) * n_samples + positions.unsqueeze(0)).flatten()


class Moments:
    """Running count, mean and M2 (Welford) per (model, sample) of values [K, N, *trail]; std is the population std.

    The [K, N, D] accumulators of a heavy observation are large: an update touches them through rows of flat views
    (`flat_rows`) and reuses its scratch buffers across chunks.
    """

    def __init__(self, shape: Sequence[int], device: torch.device | str = "cpu"):
        self.count = torch.zeros(tuple(shape[:2]), device=device)
        self.mean = torch.zeros(tuple(shape), device=device)
        self.m2 = torch.zeros(tuple(shape), device=device)
        self._scratch: dict[str, torch.Tensor] = {}

    def _buffer(self, name: str, like: torch.Tensor) -> torch.Tensor:
        buffer = self._scratch.get(name)
        if buffer is None or buffer.shape != like.shape:
            buffer = self._scratch[name] = torch.empty_like(like)
        return buffer

    def add(self, models: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> None:
        """Fold values [K', P, *trail] of samples `positions` [P] of model slots `models` [K'] into the moments."""
        rows = flat_rows(models, positions, self.count.shape[1])
        values = values.reshape(len(rows), -1)
        mean, m2 = self.mean.view(-1, values.shape[1]), self.m2.view(-1, values.shape[1])
        count = self.count.view(-1).index_select(0, rows).add_(1).unsqueeze(1)
        updated = torch.index_select(mean, 0, rows, out=self._buffer("rows", values))
        delta = torch.sub(values, updated, out=self._buffer("delta", values))
        mean.index_copy_(0, rows, updated.addcdiv_(delta, count))
        # M2 += (x - old mean)(x - new mean) = delta^2 (count - 1) / count
        spread = torch.index_select(m2, 0, rows, out=updated)
        m2.index_copy_(0, rows, spread.addcmul_(delta.square_(), (count - 1) / count))
        self.count.view(-1).index_copy_(0, rows, count.squeeze(1))

    @property
    def std(self) -> torch.Tensor:
        """sqrt(M2 / count) [K, N, *trail] (0 where nothing was observed)."""
        count = self.count.clamp_min(1)
        return (self.m2 / count.view(count.shape + (1,) * (self.m2.dim() - 2))).sqrt()


class Latest:
    """The last value observed per (model, sample), [K, N, *trail] (zeros where nothing was observed); the trailing
    shape is that of the first values added (a latent layer's width is the network's to say)."""

    def __init__(self, shape: Sequence[int], device: torch.device | str = "cpu"):
        self.shape, self.device = tuple(shape), device
        self._value: torch.Tensor | None = None

    @property
    def value(self) -> torch.Tensor:
        return torch.zeros(self.shape, device=self.device) if self._value is None else self._value

    def add(self, models: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> None:
        if self._value is None:
            self._value = torch.zeros(*self.shape, *values.shape[2:], device=self.device)
        rows, trail = flat_rows(models, positions, self.shape[1]), self._value.shape[2:]
        self._value.view(-1, *trail).index_copy_(0, rows, values.reshape(len(rows), *trail))


class Sink(Protocol):
    """What `Observe` fills: anything with add(models [K'], positions [P], values [K', P, ...])."""

    def add(self, models: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> None: ...


class Observe(Hook):
    """Engine hook: observation `name` at `epochs`, transformed (`transform(values, positions)`, default: as is) and
    added to `sink`; heavy observations arrive chunk by chunk, per-sample ones [K', N] once per epoch."""

    def __init__(self, name: str, epochs: Collection[int], sink: Sink, transform: Transform | None = None):
        self.name, self.epochs, self.sink = name, epochs, sink
        self.observes = frozenset({name})
        self.transform = transform or (lambda values, positions: values)

    def wants(self, epoch: int) -> Collection[str]:
        return self.observes if epoch in self.epochs else ()

    def on_chunk(self, epoch: int, models: torch.Tensor, positions: torch.Tensor,
                 observed: Mapping[str, torch.Tensor]) -> None:
        self.sink.add(models, positions, self.transform(observed[self.name], positions))

    def on_epoch_end(self, state: EpochState) -> None:
        if self.name in HEAVY or state.epoch not in self.epochs:
            return
        values = state.observed[self.name]
        positions = torch.arange(values.shape[1], device=values.device)
        self.sink.add(state.models, positions, self.transform(values, positions))


class _StopAfter(Hook):
    """Stops every model once epoch `last` has been observed (nothing later is read)."""

    def __init__(self, last: int):
        self.last = last

    def on_epoch_end(self, state: EpochState) -> torch.Tensor | None:
        return torch.ones_like(state.models, dtype=torch.bool) if state.epoch >= self.last else None


@dataclass(frozen=True)
class Trained:
    """The engine, its fit (final parameters of the K models) and which models diverged [K] bool."""

    engine: Engine
    fitted: FitResult
    diverged: torch.Tensor


def train_observed(dataset: Dataset, config: Config, model_seeds: list[int], hooks: Sequence[Hook] = (), *,
                   until: int | None = None, train_mask: torch.Tensor | None = None,
                   progress: Progress | None = None) -> Trained:
    """Train K = len(model_seeds) models on all samples (or train_mask [K, N]) for config.train.epochs epochs, or up
    to epoch `until` when nothing later is observed, with `hooks`, a divergence guard and epoch progress."""
    epochs = config.train.epochs if until is None else min(until, config.train.epochs)
    engine, ensemble = build_engine(config, dataset, model_seeds)
    guard = DivergenceGuard(len(model_seeds), config.train.epochs, device=dataset.x.device)
    extra: list[Hook] = [guard]
    if epochs < config.train.epochs:
        extra.append(_StopAfter(epochs))
    if progress is not None:
        extra.append(EpochProgress(progress, epochs))
    fitted = engine.fit(ensemble, dataset.x, dataset.y, train_mask=train_mask, hooks=[*hooks, *extra],
                        seed=config.seed)
    return Trained(engine, fitted, guard.diverged)


def track_moments(dataset: Dataset, config: Config, model_seeds: list[int], name: str, epochs: Collection[int], *,
                  until: int | None = None, progress: Progress | None = None) -> tuple[Moments, torch.Tensor]:
    """Moments over `epochs` of per-sample observation `name` ([K, N]; at a single epoch the mean is its value) and
    diverged [K] bool."""
    moments = Moments((len(model_seeds), dataset.n_samples), device=dataset.x.device)
    trained = train_observed(dataset, config, model_seeds, [Observe(name, epochs, moments)], until=until,
                             progress=progress)
    return moments, trained.diverged


def identified(name: str, scores: torch.Tensor, diverged: torch.Tensor, *, hard: torch.Tensor | None = None,
               **details) -> Identification:
    """The identification of scores [K, N] (and an own hard set [K, N]), the diverged models' rows zeroed (empty)."""
    left_out = diverged.unsqueeze(1)
    scores = torch.where(left_out, torch.zeros_like(scores), scores)
    if hard is not None:
        hard = hard & ~left_out
    return Identification(name, scores, hard, {**details, DIVERGED: diverged})
