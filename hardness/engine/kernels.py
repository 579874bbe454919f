"""Chunk kernels: forward, softmax and backward of K stacked MLPs over one chunk of samples, by hand.

Inside a pass activations are feature-major, [K, width, C] for a chunk of C samples: layer one of all
models is then a single [K*width, C] matrix, so its forward and weight-gradient products with the shared
inputs are two large GEMMs (nearly all the arithmetic), every later product is a contiguous batched one,
and elementwise work runs over contiguous memory. Chunk intermediates live in reused buffers, so every
tensor these kernels return is valid until the next call that writes the same buffer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from hardness.engine.ensemble import Ensemble

FAST_TANH_DEVICES = ("cpu",)
"""Device types where tanh(a) is computed as 2*sigmoid(2a) - 1 (to ~2e-7): several times faster than aten's
tanh on the CPUs here; the products then compute 2a directly (alpha=beta=2, exact in floating point)."""


class Buffers:
    """Named scratch tensors reused across chunks, batches and passes, on one device.

    Writing megabyte-sized intermediates in place instead of allocating them each chunk matters here:
    fresh allocations page-fault on first touch and cost more than the arithmetic on them. The buffer
    "scratch" holds temporaries read right after they are written (an activation slope, a square).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._flat: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def get(self, name: str, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        numel = math.prod(shape)
        flat = self._flat.get((name, dtype))
        if flat is None or flat.numel() < numel:
            flat = torch.empty(numel, dtype=dtype, device=self.device)
            self._flat[(name, dtype)] = flat
        return flat[:numel].view(shape)


@dataclass(frozen=True)
class Inputs:
    """The shared samples of a fit as passes use them: sorted by coverage then class, constant features split off.

    Samples trained on by more models come first, so nested training sets (the imbalance grid's) are prefixes and
    a chunk past a model's last training sample can skip that model; within equal coverage samples are sorted by
    class, so per-class sums are sums over a few label runs. A feature with the same value for every sample
    (MNIST's border pixels, ~11% of them) only shifts layer one's pre-activations by W[:, j] * value: it is folded
    into the bias, its weight gradient is value times the bias gradient, and the big products skip it.
    """

    x: torch.Tensor  # [N, D'] varying features, rows in sorted order
    y: torch.Tensor  # [N] sorted labels
    order: torch.Tensor  # [N] caller's position of each sorted row
    runs: tuple[tuple[int, int, int], ...]  # (label, first, stop) of each run of equal sorted labels
    squared_norm: torch.Tensor  # [N] |x|^2 of each sorted row over all D features
    varying: torch.Tensor | None  # [D'] indices of the varying features; None when all vary
    constant: torch.Tensor | None  # [D - D'] indices of the constant features
    values: torch.Tensor | None  # [D - D'] their values


def compute_sample_order(y: torch.Tensor, coverage: torch.Tensor | None = None) -> torch.Tensor:
    """[N] positions sorted by coverage [N] (how many models train on each sample) descending, then by label."""
    if coverage is None:
        return torch.argsort(y, stable=True)
    key = (int(coverage.max()) - coverage.long()) * (int(y.max()) + 1) + y
    return torch.argsort(key, stable=True)


def find_label_runs(y: torch.Tensor) -> tuple[tuple[int, int, int], ...]:
    """(label, first, stop) of every maximal run of equal labels in y [N]."""
    starts = [0] + ((y[1:] != y[:-1]).nonzero().squeeze(1) + 1).tolist()
    stops = starts[1:] + [len(y)]
    return tuple((int(y[first]), first, stop) for first, stop in zip(starts, stops) if first < stop)


def prepare_inputs(x: torch.Tensor, y: torch.Tensor, coverage: torch.Tensor | None = None, *,
                   split_constant: bool = True) -> Inputs:
    """Sort the samples (compute_sample_order) and, with `split_constant`, split off constant features, keeping a
    multiple of 16 features for the GEMMs."""
    order = compute_sample_order(y, coverage)
    x, y = x[order], y[order]
    runs = find_label_runs(y)
    squared_norm = x.square().sum(1)
    if not split_constant:
        return Inputs(x, y, order, runs, squared_norm, None, None, None)
    fixed = (x == x[:1]).all(0)
    kept = -(-int((~fixed).sum()) // 16) * 16  # odd leading dimensions cost MKL ~10% on the weight-gradient GEMM
    if kept == 0 or kept >= x.shape[1]:
        return Inputs(x, y, order, runs, squared_norm, None, None, None)
    fixed[fixed.nonzero().squeeze(1)[: kept - int((~fixed).sum())]] = False
    varying, constant = (~fixed).nonzero().squeeze(1), fixed.nonzero().squeeze(1)
    return Inputs(x[:, varying].contiguous(), y, order, runs, squared_norm, varying, constant,
                  x[0, constant].clone())


@dataclass(frozen=True)
class Softmax:
    """Cross-entropy pieces of a chunk: logits [K, n_classes, C] with targets index [K, 1, C].

    top/picked [K, 1, C] are the largest and the target logit, exp [K, n_classes, C] is exp(logits - top)
    (a reused buffer), total [K, C] its sum over classes and log_p [K, C] the target's log-probability.
    """

    logits: torch.Tensor
    index: torch.Tensor
    top: torch.Tensor
    picked: torch.Tensor
    exp: torch.Tensor
    total: torch.Tensor
    log_p: torch.Tensor

    def models(self, rows: slice) -> Softmax:
        """The pieces of models `rows` only, as views."""
        return Softmax(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


class Kernels:
    """The arithmetic of one chunk, for one activation, precision and device (see FAST_TANH_DEVICES)."""

    def __init__(self, activation: str, low_precision: bool, device: torch.device) -> None:
        self.tanh = activation == "tanh"
        self.fast_tanh = self.tanh and device.type in FAST_TANH_DEVICES
        self.scale = 2.0 if self.fast_tanh else 1.0
        self.low_precision = low_precision
        self.buffers = Buffers(device)
        self._one = torch.tensor(1.0, device=device)
        self._minus_one = torch.tensor(-1.0, device=device)

    def activate_(self, a: torch.Tensor) -> torch.Tensor:
        """In place: a holds scale * pre-activation; afterwards the hidden activation."""
        if self.fast_tanh:
            return torch.add(self._minus_one, a.sigmoid_(), alpha=2, out=a)  # 2s - 1 in one pass
        return a.tanh_() if self.tanh else a.clamp_min_(0)

    def activation_grad_(self, g: torch.Tensor, h: torch.Tensor) -> None:
        """In place: g *= activation'(pre-activation), written in terms of the activation h."""
        if self.tanh:
            g.mul_(torch.addcmul(self._one, h, h, value=-1, out=self.buffers.get("scratch", *h.shape)))
        else:
            g.mul_(torch.gt(h, 0, out=self.buffers.get("scratch", *h.shape, dtype=torch.bool)))

    def fold_first_layer(self, ensemble: Ensemble, inputs: Inputs | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer one for shared inputs: (weight [K*w, D'] over the varying features, bias [K*w] with the
        constant features folded in)."""
        weight, bias = ensemble.weights[0], ensemble.biases[0]
        first = weight.reshape(-1, weight.shape[2])
        if inputs is not None and inputs.varying is not None:
            bias = bias + weight[:, :, inputs.constant] @ inputs.values
            first = first[:, inputs.varying]
        if self.low_precision:
            first = first.to(torch.bfloat16)
        return first, bias.reshape(-1)

    def first_layer(self, ensemble: Ensemble, x: torch.Tensor,
                    first: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Activations [K, w, C] of layer one; x is shared [C, D'] (with `first` from fold_first_layer) or
        per model [K, C, D]."""
        k, width, _ = ensemble.weights[0].shape
        out = self.buffers.get("h0", k, width, x.shape[-2])
        if x.dim() == 3:
            torch.baddbmm(ensemble.biases[0].unsqueeze(2), ensemble.weights[0], x.transpose(1, 2),
                          beta=self.scale, alpha=self.scale, out=out)
            return self.activate_(out)
        weight, bias = first
        if self.low_precision:
            # bf16 GEMMs return bf16; the layouts (W @ x^T, and g^T-contiguous below) are the fast bf16 paths
            torch.add(bias.view(-1, 1), weight @ x.t(), out=out.view(k * width, -1)).mul_(self.scale)
        else:
            torch.addmm(bias.view(-1, 1), weight, x.t(), beta=self.scale, alpha=self.scale,
                        out=out.view(k * width, -1))
        return self.activate_(out)

    def forward(self, ensemble: Ensemble, x: torch.Tensor,
                first: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden activations (each [K, w, C]) and logits [K, n_classes, C]."""
        h = self.first_layer(ensemble, x, first)
        hiddens = [h]
        for layer in range(1, len(ensemble.weights) - 1):
            weight, bias = ensemble.weights[layer], ensemble.biases[layer]
            out = self.buffers.get(f"h{layer}", weight.shape[0], weight.shape[1], h.shape[2])
            h = torch.baddbmm(bias.unsqueeze(2), weight, h, beta=self.scale, alpha=self.scale, out=out)
            h = self.activate_(h)
            hiddens.append(h)
        weight, bias = ensemble.weights[-1], ensemble.biases[-1]
        logits = self.buffers.get("logits", weight.shape[0], weight.shape[1], h.shape[2])
        return hiddens, torch.baddbmm(bias.unsqueeze(2), weight, h, out=logits)

    def softmax(self, logits: torch.Tensor, index: torch.Tensor) -> Softmax:
        """The cross-entropy pieces of logits [K, n_classes, C] against targets index [K, 1, C].

        Written out by hand: log_softmax and argmax over dim 1 of this layout are several times slower here.
        """
        top = logits.amax(1, keepdim=True)
        picked = logits.gather(1, index)
        exp = torch.sub(logits, top, out=self.buffers.get("exp", *logits.shape)).exp_()
        total = exp.sum(1)
        log_p = picked.squeeze(1).sub(top.squeeze(1)).sub_(total.log())
        return Softmax(logits, index, top, picked, exp, total, log_p)

    def loss_gradient_(self, softmax: Softmax, weight: torch.Tensor) -> torch.Tensor:
        """d(sum_i weight[k,i] * CE_i)/d(logits) [K, n_classes, C] for sample weights [K, C], over softmax.exp."""
        g = softmax.exp.mul_((weight / softmax.total).unsqueeze(1))
        return g.scatter_add_(1, softmax.index, weight.neg().unsqueeze(1))

    def deltas(self, ensemble: Ensemble, hiddens: list[torch.Tensor], delta: torch.Tensor,
               name: str = "grad") -> Iterator[tuple[int, torch.Tensor]]:
        """(layer, gradient w.r.t. that layer's pre-activation [K, out, C]) from the output layer down to layer one.

        `delta` [K, n_classes, C] is the gradient at the logits; each sample's column is propagated on its own,
        so a column-scaled delta gives column-scaled results. Results live in buffers `name`0/1: a chain whose
        result must outlive the next chain gets its own name.
        """
        yield len(ensemble.weights) - 1, delta
        for layer in range(len(ensemble.weights) - 1, 0, -1):
            h_in = hiddens[layer - 1]
            delta = torch.bmm(ensemble.weights[layer].transpose(1, 2), delta,
                              out=self.buffers.get(f"{name}{layer % 2}", *h_in.shape))
            self.activation_grad_(delta, h_in)
            yield layer - 1, delta

    def backward(self, ensemble: Ensemble, x: torch.Tensor, hiddens: list[torch.Tensor], g: torch.Tensor,
                 grads: list[torch.Tensor], first_grad: torch.Tensor | None = None) -> None:
        """Accumulate the parameter gradients (w0, b0, w1, b1, ... order) from the logit gradient g.

        For shared x [C, D'], layer one's weight gradient goes to `first_grad` [K*w, D'] instead of grads[0].
        """
        for layer, delta in self.deltas(ensemble, hiddens, g):
            grads[2 * layer + 1].add_(delta.sum(2))
            if layer > 0:
                grads[2 * layer].baddbmm_(delta, hiddens[layer - 1].transpose(1, 2))
            elif x.dim() == 3:
                grads[0].baddbmm_(delta, x)
            elif self.low_precision:
                flat = delta.view(-1, delta.shape[2])
                g_low = self.buffers.get("grad_low", *reversed(flat.shape), dtype=torch.bfloat16)
                first_grad.add_(g_low.copy_(flat.t()).t() @ x)
            else:
                first_grad.addmm_(delta.view(-1, delta.shape[2]), x)

    @staticmethod
    def unfold_first_grad(grads: list[torch.Tensor], first_grad: torch.Tensor, inputs: Inputs) -> None:
        """Write layer one's weight gradient [K, w, D]: first_grad over the varying features, and value times
        the bias gradient over the constant ones."""
        k, width, _ = grads[0].shape
        grads[0][:, :, inputs.varying] = first_grad.view(k, width, -1)
        grads[0][:, :, inputs.constant] = grads[1].unsqueeze(2) * inputs.values
