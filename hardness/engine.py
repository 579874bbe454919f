"""Train K models as one vectorised computation and fire per-epoch events that other code subscribes to.

The engine knows nothing about radii thresholds, stragglers or tracking: at every epoch it observes the
ensemble on the whole data (loss, per-class radii of the latent layer, which samples each model gets
right) and hands an `EpochState` to its hooks; a hook may ask to stop some models. Gradients are
computed by hand (cross-entropy through the MLP), chunk by chunk, so the forward pass of a full-batch
step doubles as the observation of the weights it starts from and no n x n or K x N x D tensor exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from hardness.config import ModelConfig, TrainConfig
from hardness.manifolds import compute_class_sums, compute_radii_from_sums
from hardness.models import Ensemble
from hardness.optim import build_optimizer


@dataclass(frozen=True)
class EpochState:
    """What the ensemble looks like after `epoch` training epochs (epoch 0 = initialisation).

    `models` are the slots (0..K-1) still training; every other tensor is indexed like `models`.
    """

    epoch: int
    models: torch.Tensor
    loss: torch.Tensor
    radii: torch.Tensor | None
    correct: torch.Tensor | None


class Hook(Protocol):
    """Subscriber to engine events; return a bool [len(state.models)] mask of models to stop, or None."""

    def on_epoch_end(self, state: EpochState) -> torch.Tensor | None: ...


@dataclass(frozen=True)
class FitResult:
    """Final parameters of all K models and how many epochs each trained before it stopped."""

    ensemble: Ensemble
    epochs_trained: torch.Tensor


def _tanh_(a: torch.Tensor) -> torch.Tensor:
    # 2*sigmoid(2a)-1 equals tanh to ~2e-7 and is several times faster than aten's tanh on this CPU
    return torch.sigmoid(a.mul_(2)).mul_(2).sub_(1)


def compute_batch_order(train_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[K, N] positions per model for one epoch: its own training samples shuffled first, the rest after."""
    keys = torch.rand(train_mask.shape, generator=generator) + (~train_mask).float() * 2
    return keys.argsort(dim=1)


class Engine:
    """Full-batch or mini-batch training of a stacked ensemble, with per-model training masks."""

    def __init__(self, model: ModelConfig, train: TrainConfig, n_classes: int):
        self.model, self.train, self.n_classes = model, train, n_classes
        self.low_precision = train.precision == "bf16"

    # ----- forward / backward over one chunk -------------------------------------------------------
    def _activate(self, a: torch.Tensor) -> torch.Tensor:
        return _tanh_(a) if self.model.activation == "tanh" else a.clamp_min_(0)

    def _activation_grad(self, h: torch.Tensor) -> torch.Tensor:
        return 1 - h * h if self.model.activation == "tanh" else (h > 0).to(h.dtype)

    def _first_layer(self, ensemble: Ensemble, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations [K, C, w] of layer one; x is shared [C, D] or per model [K, C, D]."""
        weight, bias = ensemble.weights[0], ensemble.biases[0]
        k, width, d = weight.shape
        if self.low_precision:
            weight = weight.to(torch.bfloat16)
        if x.dim() == 2:
            product = x.to(weight.dtype) @ weight.reshape(k * width, d).t()
            return (product.float() + bias.reshape(k * width)).view(-1, k, width).transpose(0, 1)
        return torch.baddbmm(bias.unsqueeze(1), x, ensemble.weights[0].transpose(1, 2))

    def _forward(self, ensemble: Ensemble, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden activations (each [K, C, w]) and logits [K, C, n_classes]."""
        h = self._activate(self._first_layer(ensemble, x))
        hiddens = [h]
        for weight, bias in zip(ensemble.weights[1:-1], ensemble.biases[1:-1]):
            h = self._activate(torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2)))
            hiddens.append(h)
        logits = torch.baddbmm(ensemble.biases[-1].unsqueeze(1), h, ensemble.weights[-1].transpose(1, 2))
        return hiddens, logits

    def _backward(self, ensemble: Ensemble, x: torch.Tensor, hiddens: list[torch.Tensor], log_p: torch.Tensor,
                  target: torch.Tensor, weight: torch.Tensor, grads: list[torch.Tensor]) -> None:
        """Accumulate d(sum_i weight[k,i] * CE_i)/d(params) into grads (w0, b0, w1, b1, ... order)."""
        g = log_p.exp()
        index = target.unsqueeze(2)
        g.scatter_add_(2, index, torch.full(index.shape, -1.0))
        g.mul_(weight.unsqueeze(2))
        for layer in range(len(ensemble.weights) - 1, 0, -1):
            h_in = hiddens[layer - 1]
            grads[2 * layer].baddbmm_(g.transpose(1, 2), h_in)
            grads[2 * layer + 1].add_(g.sum(1))
            g = torch.bmm(g, ensemble.weights[layer]).mul_(self._activation_grad(h_in))
        k, width, d = ensemble.weights[0].shape
        if x.dim() == 2:
            flat = g.transpose(0, 1).reshape(-1, k * width)
            if self.low_precision:
                grads[0].view(k * width, d).add_((flat.t().to(torch.bfloat16) @ x.to(torch.bfloat16)).float())
            else:
                grads[0].view(k * width, d).addmm_(flat.t(), x)
        else:
            grads[0].baddbmm_(g.transpose(1, 2), x)
        grads[1].add_(g.sum(1))

    # ----- passes over the data ------------------------------------------------------------------------
    def _pass(self, ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, *,
              with_grads: bool, observe_radii: bool) -> tuple[torch.Tensor, torch.Tensor | None,
                                                               torch.Tensor, list[torch.Tensor] | None]:
        """One chunked pass over shared x: (loss [K], radii [K, n_classes] or None, correct [K, N], grads)."""
        k, n = ensemble.n_models, x.shape[0]
        loss = torch.zeros(k, dtype=torch.float64)
        correct = torch.empty(k, n, dtype=torch.bool)
        grads = [torch.zeros_like(p) for p in ensemble.parameters()] if with_grads else None
        width = ensemble.weights[self.model.latent_layer].shape[1]
        sums = torch.zeros(k, self.n_classes, width, dtype=torch.float64)
        sums_sq = torch.zeros(k, self.n_classes, dtype=torch.float64)
        for start in range(0, n, self.train.chunk_size):
            stop = min(start + self.train.chunk_size, n)
            xc, yc, wc = x[start:stop], y[start:stop], weight[:, start:stop]
            hiddens, logits = self._forward(ensemble, xc)
            log_p = torch.log_softmax(logits, dim=2)
            target = yc.expand(k, -1)
            loss -= (log_p.gather(2, target.unsqueeze(2)).squeeze(2) * wc).sum(1, dtype=torch.float64)
            correct[:, start:stop] = logits.argmax(2) == yc
            if observe_radii:
                chunk_sums, chunk_sums_sq = compute_class_sums(hiddens[self.model.latent_layer], yc, self.n_classes)
                sums += chunk_sums
                sums_sq += chunk_sums_sq
            if grads is not None:
                self._backward(ensemble, xc, hiddens, log_p, target, wc, grads)
        counts = torch.bincount(y, minlength=self.n_classes)
        radii = compute_radii_from_sums(sums, sums_sq, counts) if observe_radii else None
        return loss, radii, correct, grads

    def _minibatch_epoch(self, ensemble: Ensemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                         train_mask: torch.Tensor, generator: torch.Generator) -> None:
        """One epoch of mini-batches, each model over its own shuffled training samples."""
        batch = self.train.batch_size
        order = compute_batch_order(train_mask, generator)
        counts = train_mask.sum(1)
        for start in range(0, int(counts.max()), batch):
            positions = order[:, start:start + batch]
            valid = (torch.arange(start, start + positions.shape[1]) < counts.unsqueeze(1)).float()
            weight = valid / valid.sum(1, keepdim=True).clamp_min(1)
            xb = x[positions]
            hiddens, logits = self._forward(ensemble, xb)
            log_p = torch.log_softmax(logits, dim=2)
            grads = [torch.zeros_like(p) for p in ensemble.parameters()]
            self._backward(ensemble, xb, hiddens, log_p, y[positions], weight, grads)
            optimizer.step(grads, valid.any(1))

    # ----- public API ------------------------------------------------------------------------------------
    def fit(self, ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, train_mask: torch.Tensor | None = None,
            hooks: tuple[Hook, ...] | list[Hook] = (), observe_radii: bool = True, seed: int = 0) -> FitResult:
        """Train every model for `train.epochs` epochs (or until a hook stops it) on its masked samples.

        x [N, D] float32, y [N] int64; train_mask [K, N] bool (default: all samples for all models).
        Observations (radii, correctness) always cover all N samples.
        """
        k_total = ensemble.n_models
        ensemble = ensemble.select(torch.arange(k_total))
        final = ensemble.select(torch.arange(k_total))
        mask = torch.ones(k_total, x.shape[0], dtype=torch.bool) if train_mask is None else train_mask.clone()
        if bool((mask.sum(1) == 0).any()):
            raise ValueError("every model needs at least one training sample")
        models = torch.arange(k_total)
        epochs_trained = torch.zeros(k_total, dtype=torch.long)
        optimizer = build_optimizer(ensemble.parameters(), self.train)
        generator = torch.Generator().manual_seed(seed)
        full_batch = self.train.batch_size is None
        for epoch in range(self.train.epochs + 1):
            weight = mask.float() / mask.sum(1, keepdim=True)
            last = epoch == self.train.epochs
            loss, radii, correct, grads = self._pass(
                ensemble, x, y, weight, with_grads=full_batch and not last, observe_radii=observe_radii)
            state = EpochState(epoch, models.clone(), loss.float(), radii, correct)
            stop = torch.zeros(len(models), dtype=torch.bool)
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
            if full_batch:
                optimizer.step(grads)
            else:
                self._minibatch_epoch(ensemble, optimizer, x, y, mask, generator)
            epochs_trained[models] += 1
        self._store(final, ensemble, models, torch.ones(len(models), dtype=torch.bool))
        return FitResult(final, epochs_trained)

    @staticmethod
    def _store(final: Ensemble, ensemble: Ensemble, slots: torch.Tensor, rows: torch.Tensor) -> None:
        for target, source in zip(final.parameters(), ensemble.parameters()):
            target[slots] = source[rows]

    @torch.no_grad()
    def predict(self, ensemble: Ensemble, x: torch.Tensor) -> torch.Tensor:
        """Logits [K, M, n_classes] of every model on x [M, D], computed chunk by chunk."""
        chunks = [self._forward(ensemble, x[start:start + self.train.chunk_size])[1]
                  for start in range(0, x.shape[0], self.train.chunk_size)]
        return torch.cat(chunks, dim=1) if chunks else torch.empty(ensemble.n_models, 0, self.n_classes)


def flops_per_sample_epoch(n_features: int, model: ModelConfig, n_classes: int) -> int:
    """Multiply-add FLOPs of one training step for one sample and one model (forward + both backward products)."""
    sizes = [n_features] + [model.width] * model.depth + [n_classes]
    layers = list(zip(sizes, sizes[1:]))
    first = 2 * 2 * sizes[0] * sizes[1]
    rest = sum(3 * 2 * fan_in * out for fan_in, out in layers[1:])
    return first + rest
