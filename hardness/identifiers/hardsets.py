"""From an identification to hard sets [K, N]: sets pass through, scores are thresholded (SPEC section 5).

The benchmark compares identifiers at equal size: `like_stragglers` gives each score identifier's
model k the same number of hard samples as the stragglers of the paired model k (over the whole
dataset, or class by class). `own` takes the set an identifier of kind "both" flags itself. Every method is one
entry of `METHODS`; an identifier of kind "set" gives no scores and passes through whatever the method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from hardness.config import ThresholdConfig
from hardness.errors import HardnessError, UserError
from hardness.identifiers.base import REGISTRY, Identification, gives_scores, gives_set
from hardness.identifiers.thresholds import flag_like, flag_quantile, flag_top_k, flag_top_k_per_class

Method = Callable[[Identification, torch.Tensor, int, ThresholdConfig, torch.Tensor | None], torch.Tensor]
"""method(identification, labels [N], n_classes, threshold, reference [K, N] or None) -> hard masks [K, N]."""


def _like_stragglers(identification: Identification, labels: torch.Tensor, n_classes: int, threshold: ThresholdConfig,
                     reference: torch.Tensor | None) -> torch.Tensor:
    if reference is None:
        raise HardnessError("threshold.method like_stragglers needs the stragglers' sets; "
                            "run it through `hardness benchmark` or choose top_k / quantile")
    return flag_like(identification.scores, labels, reference, level=threshold.level)


def _top_k(identification: Identification, labels: torch.Tensor, n_classes: int, threshold: ThresholdConfig,
           reference: torch.Tensor | None) -> torch.Tensor:
    if threshold.level == "class":
        return flag_top_k_per_class(identification.scores, labels,
                                    torch.full((n_classes,), threshold.k, device=labels.device))
    return flag_top_k(identification.scores, threshold.k)


def _quantile(identification: Identification, labels: torch.Tensor, n_classes: int, threshold: ThresholdConfig,
              reference: torch.Tensor | None) -> torch.Tensor:
    return flag_quantile(identification.scores, threshold.quantile)


def _own(identification: Identification, labels: torch.Tensor, n_classes: int, threshold: ThresholdConfig,
         reference: torch.Tensor | None) -> torch.Tensor:
    if identification.hard is None:
        raise UserError(_own_refusal([identification.name]))
    return identification.hard


METHODS: dict[str, Method] = {"like_stragglers": _like_stragglers, "top_k": _top_k, "quantile": _quantile,
                              "own": _own}


def compute_hard_sets(identification: Identification, labels: torch.Tensor, n_classes: int,
                      threshold: ThresholdConfig, *, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Hard masks [K, N]: a set-only identification passes through, scores go through `threshold.method`;
    `reference` [K, N] (the baseline's sets) is needed by the like_stragglers method."""
    if identification.scores is None:
        return identification.hard
    if threshold.method not in METHODS:
        raise HardnessError(f"unknown threshold method {threshold.method!r}; choose from: {', '.join(METHODS)}")
    return METHODS[threshold.method](identification, labels, n_classes, threshold, reference)


def check_threshold(names: Iterable[str], threshold: ThresholdConfig) -> None:
    """Refuse, before any training, `threshold.method: own` for identifiers that flag no set of their own."""
    if threshold.method != "own":
        return
    scores_only = [name for name in names if gives_scores(name) and not gives_set(name)]
    if scores_only:
        raise UserError(_own_refusal(scores_only))


def _own_refusal(names: list[str]) -> str:
    """The error of `own` for score-only identifiers `names`, naming the identifiers that have a set."""
    with_sets = sorted(name for name in REGISTRY if gives_set(name))
    return (f"threshold.method own takes an identifier's own hard set, but {', '.join(names)} "
            f"give{'s' if len(names) == 1 else ''} only scores; identifiers with their own set: {', '.join(with_sets)} "
            f"(or choose threshold.method like_stragglers, top_k or quantile)")
