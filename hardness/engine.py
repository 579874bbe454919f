"""Train K models as one vectorised computation and fire per-epoch events that other code subscribes to.

The engine knows nothing about radii thresholds, stragglers or tracking: at every epoch it observes the
ensemble on the whole data (loss, per-class radii of the latent layer, which samples each model gets
right) and hands an `EpochState` to its hooks; a hook may ask to stop some models. Gradients are
computed by hand (cross-entropy through the MLP), chunk by chunk, so the forward pass of a full-batch
step doubles as the observation of the weights it starts from and no n x n or K x N x D tensor exists.

Inside a pass activations are feature-major, [K, width, C] for a chunk of C samples: layer one of all
models is then a single [K*width, C] matrix, so its forward and weight-gradient products with the shared
inputs are two large GEMMs (nearly all the arithmetic), every later product is a contiguous batched one,
and elementwise work runs over contiguous memory. Chunk intermediates live in reused buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from hardness.config import ModelConfig, TrainConfig
from hardness.manifolds import compute_radii_from_sums
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


def compute_batch_order(train_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[K, N] positions per model for one epoch: its own training samples shuffled first, the rest after."""
    keys = torch.rand(train_mask.shape, generator=generator) + (~train_mask).float() * 2
    return keys.argsort(dim=1)


class _Buffers:
    """Named scratch tensors reused across chunks, batches and passes.

    Writing megabyte-sized intermediates in place instead of allocating them each chunk matters here:
    fresh allocations page-fault on first touch and cost more than the arithmetic on them.
    """

    def __init__(self) -> None:
        self._flat: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def get(self, name: str, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        numel = math.prod(shape)
        flat = self._flat.get((name, dtype))
        if flat is None or flat.numel() < numel:
            flat = torch.empty(numel, dtype=dtype)
            self._flat[(name, dtype)] = flat
        return flat[:numel].view(shape)


@dataclass
class _Sums:
    """Running totals of a pass: loss [K], per-class sums of u = z/|z| [K, n_classes, w] and of |u|^2 [K, n_classes]."""

    loss: torch.Tensor
    unit: torch.Tensor
    unit_sq: torch.Tensor


@dataclass(frozen=True)
class _Inputs:
    """The shared samples of a fit as passes use them: sorted by class, constant features split off.

    Sorting makes per-class sums sums of slices. A feature with the same value for every sample (MNIST's
    border pixels, ~11% of them) only shifts layer one's pre-activations by W[:, j] * value: it is folded
    into the bias, its weight gradient is value times the bias gradient, and the big products skip it.
    """

    x: torch.Tensor  # [N, D'] varying features, rows sorted by class
    y: torch.Tensor  # [N] sorted labels
    order: torch.Tensor  # [N] caller's position of each sorted row
    varying: torch.Tensor | None  # [D'] indices of the varying features; None when all vary
    constant: torch.Tensor | None  # [D - D'] indices of the constant features
    values: torch.Tensor | None  # [D - D'] their values


def _prepare_inputs(x: torch.Tensor, y: torch.Tensor) -> _Inputs:
    """Sort the samples by class and split off constant features, keeping a multiple of 16 features for the GEMMs."""
    order = torch.argsort(y, stable=True)
    x, y = x[order], y[order]
    fixed = (x == x[:1]).all(0)
    kept = -(-int((~fixed).sum()) // 16) * 16  # odd leading dimensions cost MKL ~10% on the weight-gradient GEMM
    if kept == 0 or kept >= x.shape[1]:
        return _Inputs(x, y, order, None, None, None)
    fixed[fixed.nonzero().squeeze(1)[: kept - int((~fixed).sum())]] = False
    varying, constant = (~fixed).nonzero().squeeze(1), fixed.nonzero().squeeze(1)
    return _Inputs(x[:, varying].contiguous(), y, order, varying, constant, x[0, constant].clone())


class Engine:
    """Full-batch or mini-batch training of a stacked ensemble, with per-model training masks."""

    def __init__(self, model: ModelConfig, train: TrainConfig, n_classes: int):
        self.model, self.train, self.n_classes = model, train, n_classes
        self.low_precision = train.precision == "bf16"
        self._tanh = model.activation == "tanh"
        # tanh(a) = 2*sigmoid(2a) - 1 (to ~2e-7) is several times faster than aten's tanh on this CPU; the
        # products compute 2a directly (alpha=beta=2, exact in floating point)
        self._scale = 2.0 if self._tanh else 1.0
        self._buffers = _Buffers()
        self._one, self._minus_one = torch.tensor(1.0), torch.tensor(-1.0)

    # ----- forward / backward over one chunk [K, width, C] -------------------------------------------
    def _activate_(self, a: torch.Tensor) -> torch.Tensor:
        """In place: a holds scale * pre-activation; afterwards the hidden activation."""
        if self._tanh:
            return torch.add(self._minus_one, a.sigmoid_(), alpha=2, out=a)  # 2s - 1 in one pass
        return a.clamp_min_(0)

    def _activation_grad_(self, g: torch.Tensor, h: torch.Tensor) -> None:
        """In place: g *= activation'(pre-activation), written in terms of the activation h."""
        if self._tanh:
            g.mul_(torch.addcmul(self._one, h, h, value=-1, out=self._buffers.get("slope", *h.shape)))
        else:
            g.mul_(torch.gt(h, 0, out=self._buffers.get("slope", *h.shape, dtype=torch.bool)))

    def _first_layer(self, ensemble: Ensemble, x: torch.Tensor,
                     first: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Activations [K, w, C] of layer one; x is shared [C, D'] or per model [K, C, D].

        `first` is layer one as (weight [K*w, D'] (bf16 in low precision), bias [K*w]) for shared x.
        """
        k, width, _ = ensemble.weights[0].shape
        out = self._buffers.get("h0", k, width, x.shape[-2])
        if x.dim() == 3:
            torch.baddbmm(ensemble.biases[0].unsqueeze(2), ensemble.weights[0], x.transpose(1, 2),
                          beta=self._scale, alpha=self._scale, out=out)
            return self._activate_(out)
        weight, bias = first
        if self.low_precision:
            # bf16 GEMMs return bf16; the layouts (W @ x^T, and g^T-contiguous below) are the fast bf16 paths
            torch.add(bias.view(-1, 1), weight @ x.t(), out=out.view(k * width, -1)).mul_(self._scale)
        else:
            torch.addmm(bias.view(-1, 1), weight, x.t(), beta=self._scale, alpha=self._scale,
                        out=out.view(k * width, -1))
        return self._activate_(out)

    def _forward(self, ensemble: Ensemble, x: torch.Tensor,
                 first: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden activations (each [K, w, C]) and logits [K, n_classes, C], all views of reused buffers."""
        h = self._first_layer(ensemble, x, first)
        hiddens = [h]
        for layer in range(1, len(ensemble.weights) - 1):
            weight, bias = ensemble.weights[layer], ensemble.biases[layer]
            out = self._buffers.get(f"h{layer}", weight.shape[0], weight.shape[1], h.shape[2])
            h = torch.baddbmm(bias.unsqueeze(2), weight, h, beta=self._scale, alpha=self._scale, out=out)
            h = self._activate_(h)
            hiddens.append(h)
        weight, bias = ensemble.weights[-1], ensemble.biases[-1]
        logits = self._buffers.get("logits", weight.shape[0], weight.shape[1], h.shape[2])
        return hiddens, torch.baddbmm(bias.unsqueeze(2), weight, h, out=logits)

    def _output_step(self, logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor,
                     loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy at the logits [K, n_classes, C] with targets index [K, 1, C] and sample weights [K, C].

        Adds sum_i weight[k,i] * CE_i to `loss` [K]; returns (correct [K, C] bool: the target is the argmax,
        d(weighted loss)/d(logits) [K, n_classes, C], a reused buffer). The softmax is written out by hand:
        log_softmax and argmax over dim 1 of this layout are several times slower here.
        """
        top = logits.amax(1, keepdim=True)
        picked = logits.gather(1, index)
        correct = (picked == top).squeeze(1)
        at_top = torch.eq(logits, top, out=self._buffers.get("at_top", *logits.shape, dtype=torch.bool))
        tied = at_top.view(torch.uint8).sum(1, dtype=torch.uint8) > 1
        if bool(tied.any()):
            # rare (e.g. a dead model with equal logits): argmax takes the first maximum
            correct[tied] = logits.permute(0, 2, 1)[tied].argmax(1) == index.squeeze(1).expand_as(tied)[tied]
        g = torch.sub(logits, top, out=self._buffers.get("grad_logits", *logits.shape)).exp_()
        total = g.sum(1)
        log_p = picked.squeeze(1).sub_(top.squeeze(1)).sub_(total.log())
        loss -= (log_p * weight).sum(1, dtype=torch.float64)
        g.mul_((weight / total).unsqueeze(1))
        g.scatter_add_(1, index, weight.neg().unsqueeze(1))
        return correct, g

    def _backward(self, ensemble: Ensemble, x: torch.Tensor, hiddens: list[torch.Tensor], g: torch.Tensor,
                  grads: list[torch.Tensor], first_grad: torch.Tensor | None = None) -> None:
        """Accumulate the parameter gradients (w0, b0, w1, b1, ... order) from the logit gradient g.

        For shared x [C, D'], layer one's weight gradient goes to `first_grad` [K*w, D'] instead of grads[0].
        """
        for layer in range(len(ensemble.weights) - 1, 0, -1):
            h_in = hiddens[layer - 1]
            grads[2 * layer].baddbmm_(g, h_in.transpose(1, 2))
            grads[2 * layer + 1].add_(g.sum(2))
            out = self._buffers.get(f"grad{layer % 2}", *h_in.shape)
            g = torch.bmm(ensemble.weights[layer].transpose(1, 2), g, out=out)
            self._activation_grad_(g, h_in)
        grads[1].add_(g.sum(2))
        if x.dim() == 3:
            grads[0].baddbmm_(g, x)
            return
        flat = g.view(-1, g.shape[2])
        if self.low_precision:
            g_low = self._buffers.get("grad_low", *reversed(flat.shape), dtype=torch.bfloat16)
            first_grad.add_(g_low.copy_(flat.t()).t() @ x)
        else:
            first_grad.addmm_(flat, x)

    # ----- observations ----------------------------------------------------------------------------------
    def _add_class_sums(self, latent: torch.Tensor, segments: list[tuple[int, int, int]], sums: _Sums) -> None:
        """Add per-class sums of u = z/|z| and |u|^2 for latent [K, w, C] whose samples are sorted by class.

        `segments` are (class, begin, end) column ranges of the chunk: the class sums are slice sums.
        """
        unit = self._buffers.get("unit", *latent.shape)
        # a sum over dim 1 of [K, w, C] is fast; linalg.vector_norm over it is ~30x slower here
        squared = torch.mul(latent, latent, out=unit).sum(1)
        norm = squared.sqrt().clamp_min_(1e-12)
        torch.div(latent, norm.unsqueeze(1), out=unit)
        unit_sq = squared.div_(norm.square_())
        for label, begin, end in segments:
            sums.unit[:, label] += unit[:, :, begin:end].sum(2)
            sums.unit_sq[:, label] += unit_sq[:, begin:end].sum(1)

    # ----- passes over the data ------------------------------------------------------------------------
    def _pass(self, ensemble: Ensemble, inputs: _Inputs, weight: torch.Tensor, *, with_grads: bool,
              observe_radii: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, list[torch.Tensor] | None]:
        """One chunked pass over the prepared samples (weight [K, N] in their sorted order).

        Returns (loss [K], radii [K, n_classes] or None, correct [K, N] in sorted order, grads or None).
        """
        x, y = inputs.x, inputs.y
        k, n = ensemble.n_models, x.shape[0]
        width = ensemble.weights[self.model.latent_layer].shape[1]
        sums = _Sums(torch.zeros(k, dtype=torch.float64), torch.zeros(k, self.n_classes, width, dtype=torch.float64),
                     torch.zeros(k, self.n_classes, dtype=torch.float64))
        correct = torch.empty(k, n, dtype=torch.bool)
        grads = [torch.zeros_like(p) for p in ensemble.parameters()] if with_grads else None
        counts = torch.bincount(y, minlength=self.n_classes)
        bounds = [0] + torch.cumsum(counts, 0).tolist()
        weight0, bias0 = ensemble.weights[0], ensemble.biases[0]
        first = weight0.view(-1, weight0.shape[2])
        if inputs.varying is not None:
            bias0 = bias0 + weight0[:, :, inputs.constant] @ inputs.values
            first = first[:, inputs.varying]
        first_grad = None
        if grads is not None:
            first_grad = grads[0].view(first.shape) if inputs.varying is None else torch.zeros(first.shape)
        if self.low_precision:
            x, first = x.to(torch.bfloat16), first.to(torch.bfloat16)
        for start in range(0, n, self.train.chunk_size):
            stop = min(start + self.train.chunk_size, n)
            xc, index = x[start:stop], y[start:stop].view(1, 1, -1).expand(k, 1, -1)
            hiddens, logits = self._forward(ensemble, xc, (first, bias0.reshape(-1)))
            if observe_radii:
                segments = [(label, max(bounds[label], start) - start, min(bounds[label + 1], stop) - start)
                            for label in range(self.n_classes) if bounds[label] < stop and bounds[label + 1] > start]
                self._add_class_sums(hiddens[self.model.latent_layer], segments, sums)
            correct[:, start:stop], g = self._output_step(logits, index, weight[:, start:stop], sums.loss)
            if grads is not None:
                self._backward(ensemble, xc, hiddens, g, grads, first_grad)
        if grads is not None and inputs.varying is not None:
            grads[0][:, :, inputs.varying] = first_grad.view(k, -1, len(inputs.varying))
            grads[0][:, :, inputs.constant] = grads[1].unsqueeze(2) * inputs.values
        radii = compute_radii_from_sums(sums.unit, sums.unit_sq, counts) if observe_radii else None
        return sums.loss, radii, correct, grads

    def _minibatch_epoch(self, ensemble: Ensemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                         train_mask: torch.Tensor, generator: torch.Generator) -> None:
        """One epoch of mini-batches, each model over its own shuffled training samples."""
        batch = self.train.batch_size
        order = compute_batch_order(train_mask, generator)
        counts = train_mask.sum(1)
        grads = [torch.zeros_like(p) for p in ensemble.parameters()]
        k, d = ensemble.n_models, x.shape[1]
        for start in range(0, int(counts.max()), batch):
            positions = order[:, start:start + batch]
            size = positions.shape[1]
            valid = (torch.arange(start, start + size) < counts.unsqueeze(1)).float()
            weight = valid / valid.sum(1, keepdim=True).clamp_min(1)
            xb = torch.index_select(x, 0, positions.reshape(-1), out=self._buffers.get("batch", k * size, d))
            xb = xb.view(k, size, d)
            hiddens, logits = self._forward(ensemble, xb)
            for grad in grads:
                grad.zero_()
            _, g = self._output_step(logits, y[positions].unsqueeze(1), weight, torch.zeros(k, dtype=torch.float64))
            self._backward(ensemble, xb, hiddens, g, grads)
            optimizer.step(grads, valid.any(1))

    # ----- public API ------------------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, train_mask: torch.Tensor | None = None,
            hooks: tuple[Hook, ...] | list[Hook] = (), observe_radii: bool = True, seed: int = 0) -> FitResult:
        """Train every model for `train.epochs` epochs (or until a hook stops it) on its masked samples.

        x [N, D] float32, y [N] int64; train_mask [K, N] bool (default: all samples for all models).
        Observations (radii, correctness) always cover all N samples.
        """
        k_total = ensemble.n_models
        x = x.contiguous()
        ensemble = ensemble.select(torch.arange(k_total))
        final = ensemble.select(torch.arange(k_total))
        mask = torch.ones(k_total, x.shape[0], dtype=torch.bool) if train_mask is None else train_mask.clone()
        if bool((mask.sum(1) == 0).any()):
            raise ValueError("every model needs at least one training sample")
        inputs = _prepare_inputs(x, y)
        order = inputs.order
        models = torch.arange(k_total)
        epochs_trained = torch.zeros(k_total, dtype=torch.long)
        optimizer = build_optimizer(ensemble.parameters(), self.train)
        generator = torch.Generator().manual_seed(seed)
        full_batch = self.train.batch_size is None
        for epoch in range(self.train.epochs + 1):
            weight = mask[:, order].float() / mask.sum(1, keepdim=True)
            last = epoch == self.train.epochs
            loss, radii, correct_sorted, grads = self._pass(
                ensemble, inputs, weight, with_grads=full_batch and not last, observe_radii=observe_radii)
            correct = torch.empty_like(correct_sorted)
            correct[:, order] = correct_sorted
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
        x = x.contiguous()
        out = torch.empty(ensemble.n_models, x.shape[0], self.n_classes)
        first = ensemble.weights[0].view(-1, x.shape[1])
        if self.low_precision:
            x, first = x.to(torch.bfloat16), first.to(torch.bfloat16)
        for start in range(0, x.shape[0], self.train.chunk_size):
            stop = min(start + self.train.chunk_size, x.shape[0])
            logits = self._forward(ensemble, x[start:stop], (first, ensemble.biases[0].reshape(-1)))[1]
            out[:, start:stop] = logits.transpose(1, 2)
        return out


def flops_per_sample_epoch(n_features: int, model: ModelConfig, n_classes: int) -> int:
    """Multiply-add FLOPs of one training step for one sample and one model (forward + both backward products)."""
    sizes = [n_features] + [model.width] * model.depth + [n_classes]
    layers = list(zip(sizes, sizes[1:]))
    first = 2 * 2 * sizes[0] * sizes[1]
    rest = sum(3 * 2 * fan_in * out for fan_in, out in layers[1:])
    return first + rest
