"""Passes over the data: a chunked full pass (loss, observations, optionally the full-batch gradient) and
one epoch of per-model mini-batches. Gradients are computed by hand, chunk by chunk, so no n x n or
K x N x D tensor exists. A chunk or mini-batch trains only the contiguous range of models that have samples in it
(`compute_active_ranges`): the others would add exact zeros, so their products run on views of the stacked
weights that leave them out.
"""

from __future__ import annotations

import torch

from hardness.engine.ensemble import Ensemble
from hardness.engine.kernels import Inputs, Kernels
from hardness.engine.observations import PassObserver


def compute_batch_order(train_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[K, N] positions per model for one epoch: its own training samples shuffled first, the rest after."""
    keys = torch.rand(train_mask.shape, generator=generator, device=train_mask.device) + (~train_mask).float() * 2
    return keys.argsort(dim=1)


def batch_weights(start: int, size: int, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(valid [K, size] float: position start+j is one of the model's counts[k] training samples; each model's mean-loss
    weights over them) of one mini-batch, both backends' way of batching models with training sets of other sizes."""
    valid = (torch.arange(start, start + size, device=counts.device) < counts.unsqueeze(1)).float()
    return valid, valid / valid.sum(1, keepdim=True).clamp_min(1)


def compute_active_ranges(weight: torch.Tensor, chunk_size: int) -> list[slice]:
    """Per chunk of `chunk_size` columns of weight [K, N], the slice of models from the first to the last one with a
    non-zero weight there (an empty slice when none has)."""
    ranges = []
    for start in range(0, weight.shape[1], chunk_size):
        active = (weight[:, start:start + chunk_size] != 0).any(1).nonzero().squeeze(1)
        ranges.append(slice(int(active[0]), int(active[-1]) + 1) if len(active) else slice(0, 0))
    return ranges


def _models(ensemble: Ensemble, rows: slice) -> Ensemble:
    """Models `rows` of the ensemble as views: products over them read and write the stacked tensors."""
    return Ensemble([w[rows] for w in ensemble.weights], [b[rows] for b in ensemble.biases])


def _first_rows(first: tuple[torch.Tensor, torch.Tensor], rows: slice, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The folded layer one (Kernels.fold_first_layer) of models `rows`: row blocks of `width` per model."""
    block = slice(rows.start * width, rows.stop * width)
    return first[0][block], first[1][block]


def run_pass(kernels: Kernels, ensemble: Ensemble, inputs: Inputs, weight: torch.Tensor, observer: PassObserver, *,
             chunk_size: int, with_grads: bool,
             ranges: list[slice] | None = None) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """One chunked pass over the prepared samples with sample weights [K, N] in their sorted order.

    Every chunk's forward serves the observer and, with `with_grads`, the backward of the weighted loss. `ranges`
    (compute_active_ranges of `weight`; None: every model in every chunk) lets a chunk's products leave out the
    models outside its active range (all of them are still observed when the observer wants something). Returns
    (weighted loss [K] float64, parameter gradients in w0, b0, w1, b1, ... order, or None).
    """
    x, y = inputs.x, inputs.y
    k, n, width = ensemble.n_models, x.shape[0], ensemble.weights[0].shape[1]
    loss = torch.zeros(k, dtype=torch.float64, device=x.device)
    grads = [torch.zeros_like(p) for p in ensemble.parameters()] if with_grads else None
    first = kernels.fold_first_layer(ensemble, inputs)
    first_grad = None
    if grads is not None:
        shape = first[0].shape
        first_grad = grads[0].view(shape) if inputs.varying is None else torch.zeros(shape, device=x.device)
    if kernels.low_precision:
        x = x.to(torch.bfloat16)
    everyone = slice(0, k)
    ranges = ranges if ranges is not None else [everyone] * -(-n // chunk_size)
    for start, active in zip(range(0, n, chunk_size), ranges):
        if active.start == active.stop and not observer.active:
            continue
        rows = everyone if observer.active else active
        stop = min(start + chunk_size, n)
        xc, index = x[start:stop], y[start:stop].view(1, 1, -1).expand(rows.stop - rows.start, 1, -1)
        hiddens, logits = kernels.forward(_models(ensemble, rows), xc, _first_rows(first, rows, width))
        softmax = kernels.softmax(logits, index)
        loss[rows] -= (softmax.log_p * weight[rows, start:stop]).sum(1, dtype=torch.float64)
        if observer.active:
            observer.observe(start, stop, hiddens, softmax)
        if grads is not None and active.start < active.stop:
            within = slice(active.start - rows.start, active.stop - rows.start)
            g = kernels.loss_gradient_(softmax.models(within), weight[active, start:stop])
            kernels.backward(_models(ensemble, active), xc, [h[within] for h in hiddens], g,
                             [grad[active] for grad in grads], first_grad[active.start * width:active.stop * width])
    if grads is not None and inputs.varying is not None:
        kernels.unfold_first_grad(grads, first_grad, inputs)
    return loss, grads


def run_minibatch_epoch(kernels: Kernels, ensemble: Ensemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                        train_mask: torch.Tensor, generator: torch.Generator, batch_size: int, *,
                        skip_idle: bool = True) -> None:
    """One epoch of mini-batches, each model over its own shuffled training samples (train_mask [K, N]); with
    `skip_idle` a batch's products leave out the models outside the range of those that still have samples."""
    order = compute_batch_order(train_mask, generator)
    counts = train_mask.sum(1)
    grads = [torch.zeros_like(p) for p in ensemble.parameters()]
    k, d = ensemble.n_models, x.shape[1]
    for start in range(0, int(counts.max()), batch_size):
        positions = order[:, start:start + batch_size]
        size = positions.shape[1]
        valid, weight = batch_weights(start, size, counts)
        rows = compute_active_ranges(valid, size)[0] if skip_idle else slice(0, k)
        active = rows.stop - rows.start
        xb = torch.index_select(x, 0, positions[rows].reshape(-1), out=kernels.buffers.get("batch", active * size, d))
        xb = xb.view(active, size, d)
        part = _models(ensemble, rows)
        hiddens, logits = kernels.forward(part, xb)
        for grad in grads:
            grad.zero_()
        softmax = kernels.softmax(logits, y[positions[rows]].unsqueeze(1))
        kernels.backward(part, xb, hiddens, kernels.loss_gradient_(softmax, weight[rows]),
                         [grad[rows] for grad in grads])
        optimizer.step(grads, valid.any(1))
