"""Observations by name: what a pass can report about every sample, computed chunk by chunk, only when asked.

Per sample, assembled as [K, N] in the caller's sample order:
  correct    bool, the label is the argmax of the logits (ties go to the first class, like argmax)
  margin     true-class logit minus the largest other logit (> 0 when correct without a tie)
  true_prob  softmax probability of the true class
  loss       the sample's cross-entropy (unweighted; state.loss is the weighted training mean)
  grad_norm  L2 norm of the gradient of the sample's loss w.r.t. all weights and biases of its model
Per class: radii [K, n_classes] of the class manifolds of the latent layer.
Heavy, handed out chunk by chunk as [K, P, ...] for P samples and never assembled: probs and logits
[K, P, n_classes], latent [K, P, width] (the latent layer after its activation), input_grad [K, P, D]
(gradient of the true-class logit w.r.t. the input, over all D features; in pieces of a chunk, see HEAVY_BYTES).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import torch

from hardness.engine.ensemble import Ensemble
from hardness.engine.kernels import Inputs, Kernels, Softmax
from hardness.engine.radii import compute_radii_from_sums

PER_SAMPLE = ("correct", "margin", "true_prob", "loss", "grad_norm")
PER_CLASS = ("radii",)
HEAVY = ("probs", "logits", "latent", "input_grad")
NAMES = PER_SAMPLE + PER_CLASS + HEAVY

HEAVY_BYTES = 8 * 2**20
"""input_grad is handed out in pieces of at most about this size, so that the subscriber reduces it while it is
in cache: for 100 models x 1024 samples x 784 features it would be 320 MB; 8 MB pieces cut its cost by a third."""

Deliver = Callable[[torch.Tensor, dict[str, torch.Tensor]], None]
"""deliver(positions [P], {name: [K, P, ...]}): receives the heavy observations of P samples."""


def check_observations(names: Iterable[str]) -> frozenset[str]:
    """The names as a set; raises ValueError naming the valid ones when one is unknown."""
    names = frozenset(names)
    unknown = sorted(names.difference(NAMES))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not an observation; choose from {', '.join(NAMES)}")
    return names


@dataclass(frozen=True)
class Chunk:
    """One chunk of a pass as observations read it: hiddens [K, w, C] each, the softmax pieces and the inputs'
    squared norms [C] over all features."""

    kernels: Kernels
    ensemble: Ensemble
    hiddens: list[torch.Tensor]
    softmax: Softmax
    input_squared_norm: torch.Tensor
    latent_layer: int
    gradients: Gradients
    x: torch.Tensor | None = None
    _hidden_squared_norms: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    def buffer(self, name: str, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.kernels.buffers.get(name, *shape, dtype=dtype)

    def squared_norms(self, t: torch.Tensor) -> torch.Tensor:
        """|column|^2 [K, C] of t [K, m, C] (a sum over dim 1 is fast here; linalg.vector_norm is ~30x slower)."""
        return torch.mul(t, t, out=self.buffer("scratch", *t.shape)).sum(1)

    def hidden_squared_norm(self, layer: int) -> torch.Tensor:
        """|h|^2 [K, C] of hidden layer `layer`, computed once per chunk (radii and grad_norm both read it)."""
        if layer not in self._hidden_squared_norms:
            self._hidden_squared_norms[layer] = self.squared_norms(self.hiddens[layer])
        return self._hidden_squared_norms[layer]

    @cached_property
    def true_logit_delta(self) -> torch.Tensor:
        """[K, w, C] gradient of each sample's true-class logit w.r.t. layer one's pre-activation."""
        onehot = self.buffer("onehot", *self.softmax.logits.shape).zero_().scatter_(1, self.softmax.index, 1.0)
        *_, (_, delta) = self.kernels.deltas(self.ensemble, self.hiddens, onehot, "input")
        return delta


def _correct(chunk: Chunk) -> torch.Tensor:
    s = chunk.softmax
    correct = (s.picked == s.top).squeeze(1)
    at_top = torch.eq(s.logits, s.top, out=chunk.buffer("at_top", *s.logits.shape, dtype=torch.bool))
    tied = at_top.view(torch.uint8).sum(1, dtype=torch.uint8) > 1
    if bool(tied.any()):
        # rare (e.g. a dead model with equal logits): argmax takes the first maximum
        correct[tied] = s.logits.permute(0, 2, 1)[tied].argmax(1) == s.index.squeeze(1).expand_as(tied)[tied]
    return correct


def _margin(chunk: Chunk) -> torch.Tensor:
    s = chunk.softmax
    others = chunk.buffer("others", *s.logits.shape).copy_(s.logits).scatter_(1, s.index, -torch.inf)
    return s.picked.squeeze(1) - others.amax(1)


def _probs(chunk: Chunk, name: str, piece: slice = slice(None)) -> torch.Tensor:
    """Softmax probabilities [K, n_classes, P] of the chunk's samples `piece`, in buffer `name`."""
    exp, total = chunk.softmax.exp[:, :, piece], chunk.softmax.total[:, piece]
    return torch.div(exp, total.unsqueeze(1), out=chunk.buffer(name, *exp.shape))


class Gradients(Protocol):
    """How a backend computes the gradient observations of a chunk: grad_norm [K, C] and input_grad [K, P, D]."""

    def grad_norm(self, chunk: Chunk) -> torch.Tensor: ...

    def input_grad(self, chunk: Chunk, piece: slice) -> torch.Tensor: ...


def _grad_norm(chunk: Chunk) -> torch.Tensor:
    """Per layer the sample's weight gradient is the outer product delta x input, so its squared norm is
    |delta|^2 |input|^2, and the bias adds |delta|^2; layer one's input is the full x, constant features included."""
    delta = _probs(chunk, "delta_logits")
    delta.scatter_(1, chunk.softmax.index, delta.gather(1, chunk.softmax.index).sub_(1))
    total = torch.zeros(delta.shape[0], delta.shape[2], device=delta.device)
    for layer, d in chunk.kernels.deltas(chunk.ensemble, chunk.hiddens, delta):
        fan_in = chunk.input_squared_norm if layer == 0 else chunk.hidden_squared_norm(layer - 1)
        total.addcmul_(chunk.squared_norms(d), fan_in + 1)
    return total.sqrt_()


def _input_grad(chunk: Chunk, piece: slice) -> torch.Tensor:
    """[K, P, D] = first-layer weights^T x the true-class logit's gradient at layer one (chain run once per chunk)."""
    delta, first = chunk.true_logit_delta[:, :, piece], chunk.ensemble.weights[0]
    out = chunk.buffer("input_grad", first.shape[0], delta.shape[2], first.shape[2])
    return torch.bmm(delta.transpose(1, 2), first, out=out)


class HandGradients:
    """The mlp backend's gradient observations, from its hand-written backward."""

    grad_norm = staticmethod(_grad_norm)
    input_grad = staticmethod(_input_grad)


HAND_GRADIENTS = HandGradients()


_PER_SAMPLE: dict[str, Callable[[Chunk], torch.Tensor]] = {
    "correct": _correct,
    "margin": _margin,
    "true_prob": lambda chunk: chunk.softmax.log_p.exp(),
    "loss": lambda chunk: chunk.softmax.log_p.neg(),
    "grad_norm": lambda chunk: chunk.gradients.grad_norm(chunk),
}
_HEAVY: dict[str, Callable[[Chunk, slice], torch.Tensor]] = {
    "probs": lambda chunk, piece: _probs(chunk, "probs", piece).transpose(1, 2),
    "logits": lambda chunk, piece: chunk.softmax.logits[:, :, piece].transpose(1, 2),
    "latent": lambda chunk, piece: chunk.hiddens[chunk.latent_layer][:, :, piece].transpose(1, 2),
    "input_grad": lambda chunk, piece: chunk.gradients.input_grad(chunk, piece),
}


class PassObserver:
    """The observations one pass computes: per-sample ones filled chunk by chunk into [K, N] tensors in the
    sorted order (un-sorted by `finish`), radii from per-class sums of u = z/|z| and |u|^2
    (r^2 = mean|u|^2 - |mean u|^2), heavy ones handed to `deliver` as soon as a chunk has them.
    The mlp backend's sizes and gradients are the defaults; another backend gives its latent width, its D input
    features and its `Gradients`.
    """

    def __init__(self, wanted: frozenset[str], kernels: Kernels, ensemble: Ensemble, inputs: Inputs,
                 n_classes: int, latent_layer: int, deliver: Deliver, *, latent_width: int | None = None,
                 n_features: int | None = None, gradients: Gradients = HAND_GRADIENTS) -> None:
        self.kernels, self.ensemble, self.inputs = kernels, ensemble, inputs
        self.latent_layer, self.deliver, self.gradients = latent_layer, deliver, gradients
        self.n_features = n_features or ensemble.weights[0].shape[2]
        k, n, device = ensemble.n_models, inputs.x.shape[0], inputs.x.device
        self.per_sample = {name: torch.empty(k, n, dtype=torch.bool if name == "correct" else torch.float32,
                                             device=device) for name in PER_SAMPLE if name in wanted}
        self.heavy = [name for name in HEAVY if name in wanted]
        self.radii = "radii" in wanted
        if self.radii:
            self.counts = torch.bincount(inputs.y, minlength=n_classes)
            width = latent_width or ensemble.weights[latent_layer].shape[1]
            self.unit = torch.zeros(k, n_classes, width, dtype=torch.float64, device=device)
            self.unit_sq = torch.zeros(k, n_classes, dtype=torch.float64, device=device)
        self.active = bool(self.per_sample or self.heavy or self.radii)

    def observe(self, start: int, stop: int, hiddens: list[torch.Tensor], softmax: Softmax,
                x: torch.Tensor | None = None) -> None:
        """Observe sorted samples start:stop from their hiddens ([K, w, C] each), softmax pieces and (for a backend
        whose gradients read them) inputs x."""
        if not self.active:
            return
        chunk = Chunk(self.kernels, self.ensemble, hiddens, softmax, self.inputs.squared_norm[start:stop],
                      self.latent_layer, self.gradients, x)
        for name, out in self.per_sample.items():
            out[:, start:stop] = _PER_SAMPLE[name](chunk)
        if self.radii:
            self._add_class_sums(chunk, start, stop)
        if self.heavy:
            self._deliver_heavy(chunk, start, stop)

    def _deliver_heavy(self, chunk: Chunk, start: int, stop: int) -> None:
        """Hand out the heavy observations of sorted samples start:stop, in pieces when input_grad is among them."""
        step = stop - start
        if "input_grad" in self.heavy:
            step = max(1, HEAVY_BYTES // (4 * self.ensemble.n_models * self.n_features))
        for begin in range(0, stop - start, step):
            piece = slice(begin, min(begin + step, stop - start))
            positions = self.inputs.order[start + piece.start:start + piece.stop]
            self.deliver(positions, {name: _HEAVY[name](chunk, piece) for name in self.heavy})

    def _add_class_sums(self, chunk: Chunk, start: int, stop: int) -> None:
        """Add per-class sums of u and |u|^2 of the latent layer (labels sorted in runs: class sums are slice sums)."""
        latent = chunk.hiddens[self.latent_layer]
        squared = chunk.hidden_squared_norm(self.latent_layer)
        norm = squared.sqrt().clamp_min_(1e-12)
        unit = torch.div(latent, norm.unsqueeze(1), out=chunk.buffer("unit", *latent.shape))
        unit_sq = squared / norm.square_()
        for label, first, last in self.inputs.runs:
            begin, end = max(first, start) - start, min(last, stop) - start
            if begin < end:
                self.unit[:, label] += unit[:, :, begin:end].sum(2)
                self.unit_sq[:, label] += unit_sq[:, begin:end].sum(1)

    def finish(self) -> dict[str, torch.Tensor]:
        """The assembled observations: per-sample ones [K, N] in the caller's order, radii [K, n_classes]."""
        observed = {}
        for name, values in self.per_sample.items():
            observed[name] = torch.empty_like(values)
            observed[name][:, self.inputs.order] = values
        if self.radii:
            observed["radii"] = compute_radii_from_sums(self.unit, self.unit_sq, self.counts)
        return observed
