"""One training for several identifiers: those that read a full-budget training share it when their seeds are the same.

Such an identifier subclasses `PlannedIdentifier`: its `plan` gives the hooks that observe the training and how its
identification follows from the trained models (`FitPlan`). `fit_plans` trains once with every plan's hooks (the
engine computes each observation once per pass for all subscribers) and finishes each plan; hooks only observe, so
every identification equals the one its identifier computes alone (the benchmark's confidence and energy, trained
from the same fresh-stream seeds, pay for one training instead of two).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine import Hook
from hardness.engine.progress import Progress
from hardness.identifiers.base import Identification
from hardness.identifiers.dynamics import Moments, Observe, Trained, train_observed


@dataclass(frozen=True)
class FitPlan:
    """The hooks an identifier subscribes to a full-budget training and `finish(trained)`, its identification."""

    hooks: tuple[Hook, ...]
    finish: Callable[[Trained], Identification]


class PlannedIdentifier:
    """Base of identifiers whose identification follows from one full-budget training on all samples."""

    def plan(self, dataset: Dataset, config: Config, n_models: int) -> FitPlan:
        """Fresh hooks (and sinks) for n_models models, and how to finish once they trained."""
        raise NotImplementedError

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        """This identifier alone: its plan trained on its own."""
        plan = self.plan(dataset, config, len(model_seeds))
        return fit_plans(dataset, config, model_seeds, [plan], progress=progress)[0]


def fit_plans(dataset: Dataset, config: Config, model_seeds: list[int], plans: Sequence[FitPlan], *,
              progress: Progress | None = None) -> list[Identification]:
    """Train K = len(model_seeds) models once with the hooks of every plan; each plan's identification, in order."""
    trained = train_observed(dataset, config, model_seeds, [hook for plan in plans for hook in plan.hooks],
                             progress=progress)
    return [plan.finish(trained) for plan in plans]


def plan_moments(dataset: Dataset, n_models: int, observation: str, epochs: Collection[int],
                 score: Callable[[Moments, torch.Tensor], Identification]) -> FitPlan:
    """A plan folding per-sample `observation` at `epochs` into Moments [K, N]; score(moments, diverged [K])."""
    moments = Moments((n_models, dataset.n_samples), device=dataset.x.device)
    return FitPlan((Observe(observation, epochs, moments),), lambda trained: score(moments, trained.diverged))
