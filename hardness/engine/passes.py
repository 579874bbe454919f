"""Passes over the data: a chunked full pass (loss, observations, optionally the full-batch gradient) and
one epoch of per-model mini-batches. Gradients are computed by hand, chunk by chunk, so no n x n or
K x N x D tensor exists.
"""

from __future__ import annotations

import torch

from hardness.engine.kernels import Inputs, Kernels
from hardness.engine.observations import PassObserver
from hardness.models import Ensemble


def compute_batch_order(train_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[K, N] positions per model for one epoch: its own training samples shuffled first, the rest after."""
    keys = torch.rand(train_mask.shape, generator=generator, device=train_mask.device) + (~train_mask).float() * 2
    return keys.argsort(dim=1)


def run_pass(kernels: Kernels, ensemble: Ensemble, inputs: Inputs, weight: torch.Tensor, observer: PassObserver,
             *, chunk_size: int, with_grads: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """One chunked pass over the prepared samples with sample weights [K, N] in their sorted order.

    Every chunk's forward serves the observer and, with `with_grads`, the backward of the weighted loss.
    Returns (weighted loss [K] float64, parameter gradients in w0, b0, w1, b1, ... order, or None).
    """
    x, y = inputs.x, inputs.y
    k, n = ensemble.n_models, x.shape[0]
    loss = torch.zeros(k, dtype=torch.float64, device=x.device)
    grads = [torch.zeros_like(p) for p in ensemble.parameters()] if with_grads else None
    first = kernels.fold_first_layer(ensemble, inputs)
    first_grad = None
    if grads is not None:
        shape = first[0].shape
        first_grad = grads[0].view(shape) if inputs.varying is None else torch.zeros(shape, device=x.device)
    if kernels.low_precision:
        x = x.to(torch.bfloat16)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        xc, index = x[start:stop], y[start:stop].view(1, 1, -1).expand(k, 1, -1)
        hiddens, logits = kernels.forward(ensemble, xc, first)
        softmax = kernels.softmax(logits, index)
        loss -= (softmax.log_p * weight[:, start:stop]).sum(1, dtype=torch.float64)
        observer.observe(start, stop, hiddens, softmax)
        if grads is not None:
            g = kernels.loss_gradient_(softmax, weight[:, start:stop])
            kernels.backward(ensemble, xc, hiddens, g, grads, first_grad)
    if grads is not None and inputs.varying is not None:
        kernels.unfold_first_grad(grads, first_grad, inputs)
    return loss, grads


def run_minibatch_epoch(kernels: Kernels, ensemble: Ensemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                        train_mask: torch.Tensor, generator: torch.Generator, batch_size: int) -> None:
    """One epoch of mini-batches, each model over its own shuffled training samples (train_mask [K, N])."""
    order = compute_batch_order(train_mask, generator)
    counts = train_mask.sum(1)
    grads = [torch.zeros_like(p) for p in ensemble.parameters()]
    k, d = ensemble.n_models, x.shape[1]
    for start in range(0, int(counts.max()), batch_size):
        positions = order[:, start:start + batch_size]
        size = positions.shape[1]
        valid = (torch.arange(start, start + size, device=x.device) < counts.unsqueeze(1)).float()
        weight = valid / valid.sum(1, keepdim=True).clamp_min(1)
        xb = torch.index_select(x, 0, positions.reshape(-1), out=kernels.buffers.get("batch", k * size, d))
        xb = xb.view(k, size, d)
        hiddens, logits = kernels.forward(ensemble, xb)
        for grad in grads:
            grad.zero_()
        softmax = kernels.softmax(logits, y[positions].unsqueeze(1))
        kernels.backward(ensemble, xb, hiddens, kernels.loss_gradient_(softmax, weight), grads)
        optimizer.step(grads, valid.any(1))
