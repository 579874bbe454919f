"""Identification shared by every study: run an identifier with the run's model seeds, threshold it into hard sets.

Model k of every identifier uses the same seed (or the same fresh-stream seed, `identifier.init: fresh`), so
hard sets of different identifiers pair up by k. No tracking here.
"""

from __future__ import annotations

import pandas as pd
import torch

from hardness.config import Config
from hardness.data import Dataset
from hardness.hardsets import compute_hard_sets
from hardness.identifiers import BASELINE, Identification, get_identifier, is_baseline
from hardness.progress import Progress
from hardness.seeds import FRESH_STREAM, derive_model_seeds


def identify(dataset: Dataset, config: Config, name: str, n_models: int, *,
             progress: Progress | None = None) -> Identification:
    """Run identifier `name` with the run's first n_models model seeds.

    Every identifier gets the baseline's seeds (`identifier.init: shared`: the same initialisations, so a full-batch
    run follows the same trajectory), or, besides the baseline, seeds of a fresh stream (`fresh`, as the reference
    code trained its confidence/energy network from a new initialisation).
    """
    fresh = config.identifier.init == "fresh" and not is_baseline(name)
    seeds = derive_model_seeds(config.seed, n_models, stream=FRESH_STREAM if fresh else 0)
    return get_identifier(name).identify(dataset, config, seeds, progress=progress)


def identify_hard_sets(dataset: Dataset, config: Config, name: str, n_models: int, *,
                       reference: torch.Tensor | None = None, progress: Progress | None = None) -> torch.Tensor:
    """Hard masks [n_models, N] of identifier `name`, thresholded by config.threshold (the baseline computed if needed)."""
    identification = identify(dataset, config, name, n_models, progress=progress)
    return threshold_identification(dataset, config, identification, reference=reference)


def threshold_identification(dataset: Dataset, config: Config, identification: Identification, *,
                             reference: torch.Tensor | None = None) -> torch.Tensor:
    """Hard masks [K, N] from an identification; like_stragglers trains the paired baseline sets when not given."""
    needs_reference = identification.hard is None and config.threshold.method == "like_stragglers"
    if reference is None and needs_reference:
        reference = identify(dataset, config, BASELINE, identification.scores.shape[0]).hard
    return compute_hard_sets(identification, dataset.y, dataset.n_classes, config.threshold, reference=reference)


def count_table(class_counts: torch.Tensor) -> pd.DataFrame:
    """Hard samples per class (rows) and seed (columns seed_k) from counts [K, C], plus a total row."""
    frame = pd.DataFrame(class_counts.t().numpy(), columns=[f"seed_{k}" for k in range(len(class_counts))])
    frame.insert(0, "class", [str(c) for c in range(class_counts.shape[1])])
    total = frame.drop(columns="class").sum().to_frame().T
    total.insert(0, "class", "total")
    return pd.concat([frame, total], ignore_index=True)
