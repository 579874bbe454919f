"""The identifier contract: per-sample hardness scores (HIGHER = HARDER) and/or hard sets, for K seeds at once.

An identifier is a class with a `name`, registered with `@register`; `identify` trains what it needs with
the ensemble engine and returns an `Identification`. Thresholding scores into sets is a separate step
(hardness.thresholds), so a search can re-threshold without retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from hardness.data import Dataset
from hardness.errors import HardnessError

Progress = Callable[[int, int, str], None]
"""progress(epoch, total_epochs, status): called once per epoch by long-running identifiers."""


@dataclass(frozen=True)
class Identification:
    """Result for K seeds: scores [K, N] (higher = harder) and/or hard masks [K, N]; positions follow the dataset."""

    name: str
    scores: torch.Tensor | None
    hard: torch.Tensor | None
    details: dict[str, Any] = field(default_factory=dict)


class Identifier(Protocol):
    """What every identifier provides."""

    name: str

    def identify(self, dataset: Dataset, config: Any, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification: ...


REGISTRY: dict[str, Callable[[], Identifier]] = {}


def register(cls: type) -> type:
    """Class decorator: make the identifier available by its `name`."""
    REGISTRY[cls.name] = cls
    return cls


def get_identifier(name: str) -> Identifier:
    """The identifier registered under `name`; an unknown name lists the valid ones."""
    if name not in REGISTRY:
        raise HardnessError(f"unknown identifier {name!r}; choose from: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()


def derive_model_seeds(seed: int, n_models: int, stream: int = 0) -> list[int]:
    """Well-mixed 31-bit init seeds for models 0..n_models-1; each stream (retries, imbalance inits) is independent."""
    return [int(np.random.SeedSequence([seed, k, stream]).generate_state(1)[0] >> 1) for k in range(n_models)]
