"""Diverged models: training whose loss (or radii) went non-finite or exploded, found and stopped as it happens.

A model diverges at the first epoch where its training loss is not finite, exceeds EXPLOSION_FACTOR times its
loss at initialisation (about ln C for C classes: a model that predicts nearly uniformly), or where its
observed radii are not finite. Healthy training never comes near that bound: on the 8x8 digits SGD stays
below 1.5x its initial loss up to lr 2, while lr 5 reaches 25x and lr 1000 several thousand times. A
diverged model is stopped (`DivergenceGuard`, an engine hook) and left out of every hard set and summary.
"""

from __future__ import annotations

import sys

import torch

from hardness.engine import EpochState, Hook
from hardness.errors import ComputationFailed

EXPLOSION_FACTOR = 10.0
"""A loss above this multiple of the model's loss at initialisation counts as diverged."""
DIVERGED = "diverged"
"""Identification.details key: bool [K], the models whose training diverged."""


def compute_diverged(loss: torch.Tensor, initial: torch.Tensor, radii: torch.Tensor | None = None) -> torch.Tensor:
    """Bool [K]: loss [K] not finite or above EXPLOSION_FACTOR x initial [K], or some radius [K, C] not finite."""
    diverged = ~torch.isfinite(loss) | (loss > EXPLOSION_FACTOR * initial)
    if radii is not None:
        diverged |= ~torch.isfinite(radii).all(1)
    return diverged


class DivergenceGuard(Hook):
    """Engine hook recording every model's training loss per epoch [E+1, K] and stopping the models that diverge.

    It asks for nothing: the loss is always there, radii are checked when another hook asked for them.
    """

    def __init__(self, n_models: int, epochs: int, device: torch.device | str = "cpu"):
        self.loss = torch.full((epochs + 1, n_models), float("nan"), device=device)
        self.diverged_epoch = torch.full((n_models,), -1, dtype=torch.long, device=device)

    @property
    def diverged(self) -> torch.Tensor:
        """Bool [K]: the model diverged (and was stopped)."""
        return self.diverged_epoch >= 0

    def on_epoch_end(self, state: EpochState) -> torch.Tensor:
        models, loss = state.models, state.loss.to(self.loss.dtype)
        self.loss[state.epoch, models] = loss
        initial = self.loss[0, models] if state.epoch > 0 else loss
        stop = compute_diverged(loss, initial, state.radii)
        self.diverged_epoch[models[stop]] = state.epoch
        return stop


def diverged_of(details: dict, n_models: int, device: torch.device | str) -> torch.Tensor:
    """Bool [K] diverged models recorded in an identification's details (none, on `device`, when it records none)."""
    return details.get(DIVERGED, torch.zeros(n_models, dtype=torch.bool, device=device))


def describe_diverged(diverged: torch.Tensor, what: str) -> str:
    """'2 of 5 seeds diverged (...): models 1, 4' for bool diverged [K] of `what` (e.g. 'seeds')."""
    numbers = diverged.nonzero().flatten().tolist()
    shown = ", ".join(str(k) for k in numbers[:20]) + (", ..." if len(numbers) > 20 else "")
    return (f"{len(numbers)} of {len(diverged)} {what} diverged (loss not finite or above {EXPLOSION_FACTOR:g}x its "
            f"initial value): model{'s' if len(numbers) > 1 else ''} {shown}")


def report_diverged(diverged: torch.Tensor, what: str) -> None:
    """Warn on stderr when some models diverged; raise ComputationFailed (exit 4) when all of them did."""
    if not bool(diverged.any()):
        return
    message = describe_diverged(diverged, what)
    if bool(diverged.all()):
        raise ComputationFailed(f"{message}; nothing left to report: lower train.lr")
    print(f"warning: {message}; left out of the results", file=sys.stderr)
