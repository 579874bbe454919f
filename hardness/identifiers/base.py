"""The identifier contract: per-sample hardness scores (HIGHER = HARDER) or hard sets, for K seeds at once.

An identifier is a class with a `name`, a `kind` ("scores": thresholds turn its scores into sets; "set": it
flags samples itself; "both": it gives scores and its own set, `threshold.method: own` takes the set), and the
`observes` / `cost` / `reference` it documents (hardness.catalogue repeats them torch-free for the CLI); it is
registered with `@register` and `identify` trains what it needs with the ensemble engine. This registry is the
only place that knows which identifier is which kind and which one is the baseline the others are compared with
(the stragglers). Thresholding scores into sets is a separate step (hardness.identifiers.thresholds, hardness.identifiers.hardsets), so a
search can re-threshold without retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from hardness import catalogue
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.errors import HardnessError

IdentifierKind = Literal["scores", "set", "both"]
KINDS: dict[str, tuple[bool, bool]] = {"scores": (True, False), "set": (False, True), "both": (True, True)}
"""kind -> (gives scores, gives its own set)."""
BASELINE = catalogue.BASELINE_IDENTIFIER
"""The identifier every other is compared with (benchmark, `like_stragglers` thresholds, paired tests)."""


@dataclass(frozen=True)
class Identification:
    """Result for K seeds: scores [K, N] (higher = harder) for a score identifier, hard masks [K, N] for a set one,
    both for a "both" one."""

    name: str
    scores: torch.Tensor | None
    hard: torch.Tensor | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ranking(self) -> torch.Tensor:
        """What ranks the samples [K, N]: the scores (higher = harder), or a set-only identifier's masks as 0/1."""
        return self.scores if self.scores is not None else self.hard.float()


class Identifier(Protocol):
    """What every identifier provides: its name (a key of catalogue.IDENTIFIER_ENTRIES) and its identification."""

    name: str

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
    """Whether identifier `name` gives scores (thresholded into sets), sets, or both."""
    get_identifier(name)
    return catalogue.IDENTIFIER_ENTRIES[name].kind


def gives_scores(name: str) -> bool:
    """Identifier `name` gives per-sample scores (thresholds and the search apply to it)."""
    return KINDS[kind_of(name)][0]


def gives_set(name: str) -> bool:
    """Identifier `name` flags a hard set itself (`threshold.method: own` takes it)."""
    return KINDS[kind_of(name)][1]


def is_baseline(name: str) -> bool:
    """Identifier `name` is the baseline every other is compared with."""
    return name == BASELINE
