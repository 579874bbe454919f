"""SGD and Adam over stacked [K, ...] parameters, with a per-model `active` mask.

The arithmetic follows torch.optim.SGD / torch.optim.Adam (weight decay added to the gradient), so
each model trains exactly as it would alone; a model masked inactive for a step keeps its parameters
and optimiser state untouched (needed when models train on subsets of different sizes in mini-batches).
"""

from __future__ import annotations

import torch

from hardness.config import TrainConfig


def _broadcast(active: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return active.view(-1, *([1] * (like.dim() - 1)))


class SGD:
    """Stochastic gradient descent with optional momentum and L2 weight decay."""

    def __init__(self, params: list[torch.Tensor], *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(params)

    def step(self, grads: list[torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Apply one update; `active` [K] bool leaves masked-out models unchanged."""
        for i, (param, grad) in enumerate(zip(self.params, grads)):
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            if self.momentum:
                buffer = self.buffers[i]
                if buffer is None:
                    buffer = grad.clone() if active is None else grad * _broadcast(active, grad)
                else:
                    new = buffer * self.momentum + grad
                    buffer = new if active is None else torch.where(_broadcast(active, grad), new, buffer)
                self.buffers[i] = buffer
                grad = buffer
            if active is None:
                param.sub_(grad, alpha=self.lr)
            else:
                param.sub_(grad * _broadcast(active, grad), alpha=self.lr)

    def select(self, models: torch.Tensor, params: list[torch.Tensor]) -> SGD:
        """The same optimiser restricted to the given model rows, over `params` (already restricted)."""
        kept = SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        kept.buffers = [None if b is None else b[models].clone() for b in self.buffers]
        return kept


class Adam:
    """Adam with L2 weight decay (torch.optim.Adam semantics) and a per-model step count."""

    def __init__(self, params: list[torch.Tensor], *, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.weight_decay, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros(params[0].shape[0], dtype=torch.float64, device=params[0].device)

    def step(self, grads: list[torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Apply one update; `active` [K] bool leaves masked-out models unchanged."""
        beta1, beta2 = self.betas
        self.steps += 1 if active is None else active.double()
        correction1 = (1 - beta1 ** self.steps).float()
        correction2_sqrt = (1 - beta2 ** self.steps).sqrt().float()
        for param, grad, avg, avg_sq in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            step_size = (self.lr / correction1).view(_broadcast(correction1, param).shape)
            bias_sqrt = correction2_sqrt.view(step_size.shape)
            if active is None:
                avg.lerp_(grad, 1 - beta1)
                avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                param.addcdiv_(avg * step_size, (avg_sq.sqrt() / bias_sqrt).add_(self.eps), value=-1)
                continue
            mask = _broadcast(active, param)
            avg.copy_(torch.where(mask, torch.lerp(avg, grad, 1 - beta1), avg))
            avg_sq.copy_(torch.where(mask, avg_sq * beta2 + (1 - beta2) * grad * grad, avg_sq))
            # a model that has not stepped yet has correction 0: where() keeps its NaN update away
            updated = param - avg * step_size / ((avg_sq.sqrt() / bias_sqrt) + self.eps)
            param.copy_(torch.where(mask, updated, param))

    def select(self, models: torch.Tensor, params: list[torch.Tensor]) -> Adam:
        """The same optimiser restricted to the given model rows, over `params` (already restricted)."""
        kept = Adam(params, lr=self.lr, weight_decay=self.weight_decay, betas=self.betas, eps=self.eps)
        kept.exp_avg = [a[models].clone() for a in self.exp_avg]
        kept.exp_avg_sq = [a[models].clone() for a in self.exp_avg_sq]
        kept.steps = self.steps[models].clone()
        return kept


def build_optimizer(params: list[torch.Tensor], config: TrainConfig) -> SGD | Adam:
    """The optimiser named by the training config."""
    if config.optimizer == "adam":
        return Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)

