"""The identifier contract: per-sample hardness scores (HIGHER = HARDER) or hard sets, for K seeds at once.

An identifier is a class with a `name`, a `kind` ("scores": thresholds turn its scores into sets; "set": it
flags samples itself), and the `observes` / `reference` it documents; it is registered with `@register` and
`identify` trains what it needs with the ensemble engine. This registry is the only place that knows which
identifier is which kind and which one is the baseline the others are compared with (the stragglers).
Thresholding scores into sets is a separate step (hardness.thresholds), so a search can re-threshold
without retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from hardness import schema
from hardness.data import Dataset
from hardness.errors import HardnessError
from hardness.progress import Progress

IdentifierKind = Literal["scores", "set"]
BASELINE = schema.BASELINE_IDENTIFIER
"""The identifier every other is compared with (benchmark, `like_stragglers` thresholds, paired tests)."""


@dataclass(frozen=True)
class Identification:
    """Result for K seeds: scores [K, N] (higher = harder) for a score identifier, hard masks [K, N] for a set one."""

    name: str
    scores: torch.Tensor | None
    hard: torch.Tensor | None
    details: dict[str, Any] = field(default_factory=dict)


class Identifier(Protocol):
    """What every identifier provides."""

    name: str
    kind: IdentifierKind
    observes: str
    reference: str

    def identify(self, dataset: Dataset, config: Any, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification: ...


@runtime_checkable
class RuleIdentifier(Protocol):
    """A set identifier whose sets follow from one recorded training under a tunable rule (the search tunes it)."""

    def record(self, dataset: Dataset, config: Any, model_seeds: list[int], *,
               progress: Progress | None = None) -> Any:
        """Train once and return a record with `derive(labels, rule)` giving inversion epochs and hard sets."""


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


def kind_of(name: str) -> IdentifierKind:
    """Whether identifier `name` gives scores (thresholded into sets) or sets."""
    return get_identifier(name).kind


def is_baseline(name: str) -> bool:
    """Identifier `name` is the baseline every other is compared with."""
    return name == BASELINE
