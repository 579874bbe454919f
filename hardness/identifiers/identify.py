"""Identification shared by every study: run an identifier with the run's model seeds, threshold it into hard sets.

Model k of every identifier uses the same seed (or the same fresh-stream seed, `identifier.init: fresh`), so
hard sets of different identifiers pair up by k. A model whose training diverged keeps its row k, empty, and is
marked left out (`HardSets.diverged`). No tracking here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place, to_cpu
from hardness.engine.divergence import diverged_of
from hardness.engine.progress import Progress
from hardness.engine.seeds import FRESH_STREAM, derive_model_seeds
from hardness.identifiers import BASELINE, Identification, get_identifier, is_baseline
from hardness.identifiers.hardsets import compute_hard_sets
from hardness.identifiers.shared import PlannedIdentifier, fit_plans


@dataclass(frozen=True)
class HardSets:
    """Hard masks [K, N] of K paired models and which of them are left out [K] because training diverged (their own,
    or their like_stragglers reference's); the rows of left-out models are empty."""

    hard: torch.Tensor
    diverged: torch.Tensor

    @property
    def kept(self) -> torch.Tensor:
        """The hard masks of the models not left out [K', N]."""
        return self.hard[~self.diverged]


def identify(dataset: Dataset, config: Config, name: str, n_models: int, *,
             progress: Progress | None = None) -> Identification:
    """Run identifier `name` with the run's first n_models model seeds.

    Every identifier gets the baseline's seeds (`identifier.init: shared`: the same initialisations, so a full-batch
    run follows the same trajectory), or, besides the baseline, seeds of a fresh stream (`fresh`, as the reference
    code trained its confidence/energy network from a new initialisation). It runs on config.train.device; the
    identification comes back on the CPU.
    """
    seeds = derive_model_seeds(config.seed, n_models, stream=_seed_stream(config, name))
    return to_cpu(get_identifier(name).identify(place(dataset, config), config, seeds, progress=progress))


def _seed_stream(config: Config, name: str) -> int:
    """The seed stream of identifier `name`: FRESH_STREAM for the non-baseline ones under `identifier.init: fresh`."""
    return FRESH_STREAM if config.identifier.init == "fresh" and not is_baseline(name) else 0


def group_shared_fits(config: Config, names: Sequence[str]) -> list[tuple[str, ...]]:
    """`names` in groups that one training serves (in order of first appearance): the identifiers that read a
    full-budget training (PlannedIdentifier) and get the same seeds form one group, every other name its own."""
    groups: dict[object, list[str]] = {}
    for name in names:
        planned = isinstance(get_identifier(name), PlannedIdentifier)
        groups.setdefault(("planned", _seed_stream(config, name)) if planned else name, []).append(name)
    return [tuple(group) for group in groups.values()]


def identify_together(dataset: Dataset, config: Config, names: Sequence[str], n_models: int, *,
                      progress: Progress | None = None) -> dict[str, Identification]:
    """Identifications of one group of group_shared_fits from one training, each equal to `identify` alone."""
    if len(names) == 1:
        return {names[0]: identify(dataset, config, names[0], n_models, progress=progress)}
    placed = place(dataset, config)
    seeds = derive_model_seeds(config.seed, n_models, stream=_seed_stream(config, names[0]))
    plans = [get_identifier(name).plan(placed, config, n_models) for name in names]
    found = fit_plans(placed, config, seeds, plans, progress=progress)
    return {name: to_cpu(identification) for name, identification in zip(names, found)}


def identify_hard_sets(dataset: Dataset, config: Config, name: str, n_models: int, *,
                       reference: HardSets | None = None, progress: Progress | None = None) -> HardSets:
    """Hard sets of n_models models of identifier `name`, thresholded by config.threshold (the baseline computed if
    needed)."""
    identification = identify(dataset, config, name, n_models, progress=progress)
    return threshold_identification(dataset, config, identification, reference=reference)


def threshold_identification(dataset: Dataset, config: Config, identification: Identification, *,
                             reference: HardSets | None = None) -> HardSets:
    """Hard sets from an identification; like_stragglers trains the paired baseline sets when not given."""
    n_models = (identification.hard if identification.scores is None else identification.scores).shape[0]
    needs_reference = identification.scores is not None and config.threshold.method == "like_stragglers"
    if reference is None and needs_reference:
        reference = threshold_identification(dataset, config, identify(dataset, config, BASELINE, n_models))
    diverged = diverged_of(identification.details, n_models, dataset.y.device)
    if needs_reference:
        diverged = diverged | reference.diverged
    hard = compute_hard_sets(identification, dataset.y, dataset.n_classes, config.threshold,
                             reference=None if reference is None else reference.hard)
    return HardSets(hard & ~diverged.unsqueeze(1), diverged)


def count_table(class_counts: torch.Tensor, seeds: list[int] | None = None) -> pd.DataFrame:
    """Hard samples per class (rows) and seed (columns seed_k, k from `seeds`, default 0..K-1) from counts [K, C],
    plus a total row."""
    seeds = list(range(len(class_counts))) if seeds is None else seeds
    frame = pd.DataFrame(class_counts.t().numpy(), columns=[f"seed_{k}" for k in seeds])
    frame.insert(0, "class", [str(c) for c in range(class_counts.shape[1])])
    total = frame.drop(columns="class").sum().to_frame().T
    total.insert(0, "class", "total")
    return pd.concat([frame, total], ignore_index=True)
