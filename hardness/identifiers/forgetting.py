"""Forgetting events (Toneva et al., 2019, "An Empirical Study of Example Forgetting during Deep Neural Network
Learning", ICLR): a forgetting event is a transition from correct to incorrect between two consecutive observations
of a sample; the score is the number of events (higher = harder).

Choices: the observations are the models after epochs 1..E (full-budget training on all samples), classified on all
samples; the paper observes each mini-batch presentation, which in full-batch training is one per epoch. Samples never
classified correctly at any epoch are the most forgotten in the paper (it counts them as infinitely forgotten): they
score E, finite and above any count (E observations hold at most E // 2 events).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Observe, Trained, flat_rows, identified, training_epochs
from hardness.identifiers.shared import FitPlan, PlannedIdentifier


class ForgettingEvents:
    """Sink of correctness [K', P] bool per observation: per (model, sample) the correct -> incorrect transitions,
    whether it was ever correct, and its last state (a first observation has no predecessor, hence no event)."""

    def __init__(self, shape: Sequence[int], device: torch.device | str = "cpu"):
        self.events = torch.zeros(tuple(shape), dtype=torch.long, device=device)
        self.learned = torch.zeros(tuple(shape), dtype=torch.bool, device=device)
        self.previous = torch.zeros(tuple(shape), dtype=torch.bool, device=device)

    def add(self, models: torch.Tensor, positions: torch.Tensor, correct: torch.Tensor) -> None:
        rows = flat_rows(models, positions, self.events.shape[1])
        correct = correct.flatten()
        previous, learned = self.previous.view(-1), self.learned.view(-1)
        self.events.view(-1).index_add_(0, rows, (previous.index_select(0, rows) & ~correct).long())
        previous.index_copy_(0, rows, correct)
        learned.index_copy_(0, rows, learned.index_select(0, rows) | correct)


def score_forgetting(events: ForgettingEvents, n_observations: int) -> torch.Tensor:
    """Scores [K, N]: the number of forgetting events, n_observations for a sample never classified correctly."""
    never = torch.full_like(events.events, n_observations)
    return torch.where(events.learned, events.events, never).float()


@register
class Forgetting(PlannedIdentifier):
    """Hardness = how often a sample is forgotten during training (never learned: hardest)."""

    name = "forgetting"

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        epochs = training_epochs(config.train.epochs)
        events = ForgettingEvents((n_models, dataset.n_samples), device=dataset.x.device)

        def finish(trained: Trained) -> Identification:
            return identified(self.name, score_forgetting(events, len(epochs)), trained.diverged)

        return FitPlan((Observe("correct", epochs, events),), finish)
