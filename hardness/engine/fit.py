"""Train K models as one vectorised computation and hand each epoch's observations to the hooks that asked.

The engine knows nothing about radii thresholds, stragglers or tracking. Before every epoch's pass it asks
each hook which observations it wants (`Hook.wants`, names in `hardness.engine.observations`), computes
only those, in the pass it makes anyway, then hands an `EpochState` to every hook; a hook may ask to stop
some models. Observations at epoch e describe the weights after e training steps: in full-batch training
the forward pass of step e+1 doubles as the observation (the last epoch computes no gradient); with
mini-batches a separate forward pass over all samples observes each epoch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

import torch

from hardness.config import ModelConfig, TrainConfig
from hardness.engine.backends import MlpBackend
from hardness.engine.ensemble import Ensemble
from hardness.engine.kernels import Inputs
from hardness.engine.modules import ModuleBackend, ModuleEnsemble
from hardness.engine.observations import HEAVY, check_observations
from hardness.engine.optim import build_optimizer
from hardness.engine.passes import compute_active_ranges


@dataclass(frozen=True)
class EpochState:
    """The ensemble after `epoch` training steps (epoch 0 = initialisation), over all N samples in the caller's order.

    `models` [K'] are the slots (0..K-1) still training; every tensor is indexed like them. `loss` [K'] is the
    weighted mean loss over each model's training samples (always there); `train_mask` [K', N] bool marks
    those samples. `observed` holds what some hook asked for at this epoch: per-sample [K', N], radii [K', n_classes].
    """

    epoch: int
    models: torch.Tensor
    loss: torch.Tensor
    observed: Mapping[str, torch.Tensor] = field(default_factory=dict)
    train_mask: torch.Tensor | None = None

    @property
    def radii(self) -> torch.Tensor | None:
        """[K', n_classes] class-manifold radii of the latent layer, or None when nobody asked for them."""
        return self.observed.get("radii")

    @property
    def correct(self) -> torch.Tensor | None:
        """[K', N] bool argmax == label, or None when nobody asked for it."""
        return self.observed.get("correct")


class Hook:
    """Subscriber to engine events: subclass it and override what you use; the defaults ask for nothing.

    Observations always cover all N samples (one pass serves every subscriber); a hook that cares only about
    each model's training samples restricts itself with `state.train_mask`, or in `on_chunk` with the mask
    given to fit, `train_mask[models][:, positions]` (a slot's row never changes during a fit).
    """

    observes: frozenset[str] = frozenset()

    def wants(self, epoch: int) -> Collection[str]:
        """Names of the observations this hook needs at `epoch`; by default `observes`, at every epoch."""
        return self.observes

    def on_chunk(self, epoch: int, models: torch.Tensor, positions: torch.Tensor,
                 observed: Mapping[str, torch.Tensor]) -> None:
        """The heavy observations this hook wants at `epoch`, P samples at a time, before `on_epoch_end`.

        positions [P]: the caller's indices of the samples; observed[name] [K', P, ...] for `models` [K']
        (probs/logits [.., n_classes], latent [.., width], input_grad [.., D]). Every sample comes exactly
        once per epoch. The tensors are views of reused buffers, valid only during the call: reduce or copy them.
        """

    def on_epoch_end(self, state: EpochState) -> torch.Tensor | None:
        """Return a bool [len(state.models)] mask of models to stop, or None."""
        return None


@dataclass(frozen=True)
class FitResult:
    """Final parameters of all K models and how many epochs each trained before it stopped."""

    ensemble: Ensemble
    epochs_trained: torch.Tensor


def _subscriptions(hooks: Sequence[Hook], epoch: int) -> tuple[frozenset[str], list[tuple[Hook, frozenset[str]]]]:
    """(every name some hook wants at `epoch`, each hook with the heavy names it wants)."""
    wants = [(hook, check_observations(hook.wants(epoch))) for hook in hooks]
    heavy = [(hook, names.intersection(HEAVY)) for hook, names in wants if names.intersection(HEAVY)]
    return frozenset().union(*(names for _, names in wants)), heavy


def _deliver(heavy: list[tuple[Hook, frozenset[str]]], epoch: int, models: torch.Tensor, positions: torch.Tensor,
             observed: dict[str, torch.Tensor]) -> None:
    """Hand one chunk's heavy observations to each hook that wants some, only the names it wants."""
    for hook, names in heavy:
        hook.on_chunk(epoch, models, positions, {name: observed[name] for name in names})


class Engine:
    """Full-batch or mini-batch training of a stacked ensemble, with per-model training masks, on a backend: the mlp
    backend's hand-written kernels (the default) or the module backend's torch.func (`hardness.engine.factory`).

    `skip_idle` (default, mlp backend): a chunk or mini-batch trains only the range of models with training samples
    in it, which gives the same updates as training every model on every chunk (`skip_idle=False`, kept to measure
    against).
    """

    def __init__(self, model: ModelConfig, train: TrainConfig, n_classes: int, *, skip_idle: bool = True,
                 backend: MlpBackend | ModuleBackend | None = None):
        if backend is None and model.uses_module_backend:
            raise ValueError(f"the {model.name} network trains on the module backend: build it with "
                             "hardness.engine.factory.build_engine")
        self.model, self.train, self.n_classes, self.skip_idle = model, train, n_classes, skip_idle
        self.backend = backend or MlpBackend(model, train, n_classes, skip_idle=skip_idle)

    @torch.no_grad()
    def fit(self, ensemble: Ensemble | ModuleEnsemble, x: torch.Tensor, y: torch.Tensor, *,
            train_mask: torch.Tensor | None = None, hooks: Sequence[Hook] = (), seed: int = 0) -> FitResult:
        """Train every model for `train.epochs` epochs (or until a hook stops it) on its masked samples.

        x [N, D] float32, y [N] int64, ensemble and train_mask [K, N] bool (default: all samples for all
        models) on the same device; hooks observe every epoch, 0 to `train.epochs`. torch's own generator (dropout)
        is seeded with `seed` for the fit and restored after it.
        """
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            return self._fit(ensemble, x, y, train_mask, hooks, seed)

    def _fit(self, ensemble: Ensemble | ModuleEnsemble, x: torch.Tensor, y: torch.Tensor,
             train_mask: torch.Tensor | None, hooks: Sequence[Hook], seed: int) -> FitResult:
        k_total, device = ensemble.n_models, x.device
        x = x.contiguous()
        backend = self.backend
        ensemble = ensemble.select(torch.arange(k_total, device=device))
        final = ensemble.select(torch.arange(k_total, device=device))
        mask = torch.ones(k_total, x.shape[0], dtype=torch.bool, device=device) if train_mask is None \
            else train_mask.clone()
        if bool((mask.sum(1) == 0).any()):
            raise ValueError("every model needs at least one training sample")
        inputs = backend.prepare(x, y, mask.sum(0))
        models = torch.arange(k_total, device=device)
        epochs_trained = torch.zeros(k_total, dtype=torch.long, device=device)
        optimizer = build_optimizer(ensemble.parameters(), self.train)
        generator = torch.Generator(device=device).manual_seed(seed)
        full_batch = self.train.batch_size is None
        weight, ranges = self._weigh(mask, inputs)
        for epoch in range(self.train.epochs + 1):
            wanted, heavy = _subscriptions(hooks, epoch)
            observer = backend.observer(wanted, ensemble, inputs, self.model.latent_layer,
                                        partial(_deliver, heavy, epoch, models))
            last = epoch == self.train.epochs
            loss, grads = backend.run_pass(ensemble, inputs, weight, observer, with_grads=full_batch and not last,
                                           ranges=ranges)
            state = EpochState(epoch, models.clone(), loss.float(), MappingProxyType(observer.finish()), mask)
            stop = torch.zeros(len(models), dtype=torch.bool, device=device)
            for hook in hooks:
                requested = hook.on_epoch_end(state)
                if requested is not None:
                    stop |= requested
            if last:
                break
            if bool(stop.any()):
                self._store(final, ensemble, models[stop], stop)
                keep = (~stop).nonzero().squeeze(1)
                ensemble, models, mask = ensemble.select(keep), models[keep], mask[keep]
                if grads is not None:
                    grads = [g[keep] for g in grads]
                if len(models) == 0:
                    return FitResult(final, epochs_trained)
                optimizer = optimizer.select(keep, ensemble.parameters())
                weight, ranges = self._weigh(mask, inputs)
            if full_batch:
                optimizer.step(grads)
            else:
                backend.run_minibatch_epoch(ensemble, optimizer, x, y, mask, generator)
            epochs_trained[models] += 1
        self._store(final, ensemble, models, torch.ones(len(models), dtype=torch.bool, device=device))
        return FitResult(final, epochs_trained)

    def _weigh(self, mask: torch.Tensor, inputs: Inputs) -> tuple[torch.Tensor, list[slice] | None]:
        """Full-batch sample weights [K, N] (1 / the model's training samples, in sorted order) and, when idle models
        are skipped, each chunk's active range; computed again only when models stop, not every epoch."""
        weight = mask[:, inputs.order].float() / mask.sum(1, keepdim=True)
        return weight, compute_active_ranges(weight, self.train.chunk_size) if self.skip_idle else None

    @staticmethod
    def _store(final: Ensemble | ModuleEnsemble, ensemble: Ensemble | ModuleEnsemble, slots: torch.Tensor,
               rows: torch.Tensor) -> None:
        for target, source in zip(final.tensors(), ensemble.tensors()):
            target[slots] = source[rows]

    @torch.no_grad()
    def predict(self, ensemble: Ensemble | ModuleEnsemble, x: torch.Tensor) -> torch.Tensor:
        """Logits [K, M, n_classes] of every model on x [M, D], computed chunk by chunk."""
        return self.backend.predict(ensemble, x.contiguous())


def flops_per_sample_epoch(n_features: int, model: ModelConfig, n_classes: int) -> int:
    """Multiply-add FLOPs of one training step for one sample and one model (forward + both backward products)."""
    sizes = [n_features] + [model.width] * model.depth + [n_classes]
    layers = list(zip(sizes, sizes[1:]))
    first = 2 * 2 * sizes[0] * sizes[1]
    rest = sum(3 * 2 * fan_in * out for fan_in, out in layers[1:])
    return first + rest
