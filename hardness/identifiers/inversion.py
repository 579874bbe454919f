"""The one straggler rule (SPEC section 4): a recorded history plus an inversion rule give inversion epochs and stragglers.

`derive_stragglers` is the only place that turns radii and correctness into straggler sets: `hardness run`
applies it to each attempt it trains, the search applies it to one recorded history under any rule it tries.
Correctness is kept compact (`CorrectnessHistory`: the epoch-0 state plus, per epoch, which (model, sample)
pairs flipped), so 100 models x 70k samples never need a dense [E+1, K, N] tensor while any epoch stays
recoverable.

Modes: "own" takes class c's stragglers from the model at c's own inversion epoch (the SPEC's reading);
"last" takes every inverted class's stragglers from the model at its last inversion among its classes (what the
reference code ran, since it stored one model object for all classes). A class that never inverts has no
stragglers in either mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hardness.config import InversionConfig


def smooth_radii(radii: torch.Tensor, window: int) -> torch.Tensor:
    """Trailing moving average over epochs (dim 0) of radii [E, ...]; the first window-1 epochs average what exists."""
    if window == 1:
        return radii
    cumulative = torch.cumsum(radii.double(), dim=0)
    totals = cumulative.clone()
    totals[window:] -= cumulative[:-window]
    lengths = torch.clamp(torch.arange(1, len(radii) + 1, device=radii.device), max=window)
    lengths = lengths.view(-1, *([1] * (radii.dim() - 1)))
    return (totals / lengths).to(radii.dtype)


def is_check_epoch(epoch: int, rule: InversionConfig) -> bool:
    """Checks happen at warmup + j*check_every for j >= 1 (the first compares with the warm-up's end)."""
    since = epoch - rule.warmup
    return since >= rule.check_every and since % rule.check_every == 0


def compute_inverted_now(history: torch.Tensor, epoch: int, rule: InversionConfig) -> torch.Tensor:
    """Bool [...] : radius at `epoch` above radius `check_every` earlier (history [epochs so far, ...], smoothed)."""
    recent = history[: epoch + 1]
    smoothed = smooth_radii(recent[-(rule.check_every + rule.smoothing):], rule.smoothing)
    return smoothed[-1] > smoothed[-1 - rule.check_every]


def compute_inversion_epochs(radii: torch.Tensor, rule: InversionConfig) -> torch.Tensor:
    """First inversion epoch per curve for radii [E+1, ...] (epoch 0 first); -1 where a curve never inverts.

    Built from `compute_inverted_now` at every check epoch, so an online watcher calling that function agrees
    with this offline pass by construction; NaN radii (a model that stopped) never invert.
    """
    epochs = torch.full(radii.shape[1:], -1, dtype=torch.long, device=radii.device)
    for epoch in range(len(radii)):
        if is_check_epoch(epoch, rule):
            fresh = compute_inverted_now(radii, epoch, rule) & (epochs < 0)
            epochs[fresh] = epoch
    return epochs



class CorrectnessHistory:
    """Which samples each of K models classifies correctly at every epoch, stored as flips.

    `record(epoch, models, correct)` takes the rows [len(models), N] of the models observed at that epoch (in
    increasing epoch order); a model not observed keeps its last state. `at` replays the flips.
    """

    def __init__(self, n_models: int, n_samples: int, device: torch.device | str = "cpu"):
        self.n_models, self.n_samples = n_models, n_samples
        self.current = torch.zeros(n_models, n_samples, dtype=torch.bool, device=device)
        self.initial: torch.Tensor | None = None
        self.flips: dict[int, torch.Tensor] = {}
        small = n_models * n_samples < 2**31
        self._index_dtype = torch.int32 if small else torch.int64

    def record(self, epoch: int, models: torch.Tensor, correct: torch.Tensor) -> None:
        """Store the correctness [len(models), N] of `models` after `epoch` training epochs."""
        if self.initial is None:
            self.current[models] = correct
            self.initial = self.current.clone()
            return
        everyone = len(models) == self.n_models  # models come in increasing order: then they are all rows, in order
        changed = (self.current if everyone else self.current[models]) != correct
        rows, samples = changed.nonzero(as_tuple=True)
        if len(rows):
            flat = (rows if everyone else models.to(rows.device)[rows]) * self.n_samples + samples
            self.flips[epoch] = flat.to(self._index_dtype)
            if everyone:
                self.current.copy_(correct)
            else:
                self.current[models] = correct

    @property
    def stored_flips(self) -> int:
        """How many (epoch, model, sample) flips are stored: the history's size beside the epoch-0 state."""
        return sum(len(flat) for flat in self.flips.values())

    def at(self, epochs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Correctness [K, N] where sample i of model k is read at epochs[k, labels[i]] ([K, C]; -1 reads nothing).

        Rows or classes read at -1 come back False.
        """
        need = epochs[:, labels]
        result = torch.zeros(self.n_models, self.n_samples, dtype=torch.bool, device=need.device)
        if self.initial is None:
            return result
        state = self.initial.clone()
        flat = state.view(-1)
        replayed = 0
        for epoch in torch.unique(need[need >= 0]).tolist():
            for step in range(replayed + 1, epoch + 1):
                flips = self.flips.get(step)
                if flips is not None:
                    flat[flips.long()] ^= True
            replayed = epoch
            chosen = need == epoch
            result[chosen] = state[chosen]
        return result


@dataclass(frozen=True)
class StragglerSets:
    """What one recorded attempt gives under a rule: inversion epochs [K, C] (-1 = never) and stragglers [K, N]."""

    inversion_epoch: torch.Tensor
    hard: torch.Tensor


def derive_stragglers(radii: torch.Tensor, correct: CorrectnessHistory, labels: torch.Tensor,
                      rule: InversionConfig, *, watch: torch.Tensor | None = None) -> StragglerSets:
    """Inversion epochs and straggler masks of K models from radii [E+1, K, C] and their correctness history.

    `watch` [K, C] bool limits the classes considered (others count as not inverted); `rule.mode` picks "own" or
    "last" snapshots (module docstring).
    """
    epochs = compute_inversion_epochs(radii, rule)
    if watch is not None:
        epochs = torch.where(watch, epochs, torch.full_like(epochs, -1))
    read_at = epochs
    if rule.mode == "last":
        last = epochs.max(dim=1, keepdim=True).values
        read_at = torch.where(epochs >= 0, last.expand_as(epochs), epochs)
    inverted = (epochs >= 0)[:, labels]
    hard = ~correct.at(read_at, labels) & inverted
    return StragglerSets(epochs, hard)
