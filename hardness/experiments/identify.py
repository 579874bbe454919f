"""`hardness identify`: run one identifier with K seeds, threshold it, and log scores and hard sets."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from hardness.config import Config, dump_config
from hardness.data import Dataset, load_dataset
from hardness.experiments.stragglers import score_label_noise
from hardness.hardsets import compute_hard_sets
from hardness.identifiers import Identification, get_identifier
from hardness.identifiers.base import Progress, derive_model_seeds
from hardness.tables import build_hard_set_table
from hardness.thresholds import count_per_class
from hardness.tracking import Tracker, tracking_tags


@dataclass(frozen=True)
class IdentifySummary:
    """Per-seed hard-set sizes and per-class counts of one identifier, with its MLflow run."""

    parent_run_id: str
    identifier: str
    counts: pd.DataFrame
    noise: pd.DataFrame

    def to_dict(self) -> dict:
        return {"parent_run_id": self.parent_run_id, "identifier": self.identifier,
                "counts": self.counts.to_dict(orient="records"), "noise": self.noise.to_dict(orient="records")}


def identify(dataset: Dataset, config: Config, name: str, n_models: int, *,
             progress: Progress | None = None) -> Identification:
    """Run identifier `name` with the run's first n_models model seeds (the same seeds for every identifier)."""
    return get_identifier(name).identify(dataset, config, derive_model_seeds(config.seed, n_models), progress=progress)


def identify_hard_sets(dataset: Dataset, config: Config, name: str, n_models: int, *,
                       reference: torch.Tensor | None = None, progress: Progress | None = None) -> torch.Tensor:
    """Hard masks [n_models, N] of identifier `name`, thresholded by config.threshold (stragglers computed if needed)."""
    identification = identify(dataset, config, name, n_models, progress=progress)
    return threshold_identification(dataset, config, identification, reference=reference)


def threshold_identification(dataset: Dataset, config: Config, identification: Identification, *,
                             reference: torch.Tensor | None = None) -> torch.Tensor:
    """Hard masks [K, N] from an identification; like_stragglers trains the paired stragglers when not given."""
    needs_reference = identification.scores is not None and identification.name != "stragglers" \
        and config.threshold.method == "like_stragglers"
    if reference is None and needs_reference:
        reference = identify(dataset, config, "stragglers", identification.scores.shape[0]).hard
    return compute_hard_sets(identification, dataset.y, dataset.n_classes, config.threshold, reference=reference)


def count_table(class_counts: torch.Tensor) -> pd.DataFrame:
    """Hard samples per class (rows) and seed (columns seed_k) from counts [K, C], plus a total row."""
    frame = pd.DataFrame(class_counts.t().numpy(), columns=[f"seed_{k}" for k in range(len(class_counts))])
    frame.insert(0, "class", [str(c) for c in range(class_counts.shape[1])])
    total = frame.drop(columns="class").sum().to_frame().T
    total.insert(0, "class", "total")
    return pd.concat([frame, total], ignore_index=True)


def run_identify(config: Config, *, progress: Progress | None = None) -> IdentifySummary:
    """Identify hard samples with config.identifier over config.seeds seeds; log scores, sets and counts."""
    tracker = Tracker(config.tracking.uri, config.tracking.experiment)
    dataset = load_dataset(config.data, config.seed)
    name = config.identifier.name
    get_identifier(name)
    tags = {**tracking_tags(), "hardness.kind": "identify", "hardness.identifier": name,
            "hardness.dataset": dataset.name, "hardness.fingerprint": dataset.fingerprint}
    with tracker.run(f"identify-{name}-{dataset.name}", params={**config.flat(), "identifier": name},
                     tags=tags) as parent:
        tracker.log_text(parent, dump_config(config), "config.yaml")
        identification = identify(dataset, config, name, config.seeds, progress=progress)
        hard_sets = threshold_identification(dataset, config, identification)
        noise = pd.DataFrame([{"seed": k, **score_label_noise(dataset, row)} for k, row in enumerate(hard_sets)])
        for k, row in enumerate(hard_sets):
            scores = None if identification.scores is None else identification.scores[k]
            table = build_hard_set_table(dataset, row, scores=scores)
            tracker.log_table(parent, table, f"hard_sets/seed_{k}.csv")
        if identification.scores is not None:
            score_frame = pd.DataFrame(identification.scores.t().numpy(),
                                       columns=[f"seed_{k}" for k in range(len(hard_sets))])
            score_frame.insert(0, "original_index", dataset.index.numpy())
            score_frame.insert(1, "label", dataset.y.numpy())
            tracker.log_table(parent, score_frame, "scores.csv")
        class_counts = count_per_class(hard_sets, dataset.y, dataset.n_classes)
        counts = count_table(class_counts)
        tracker.log_table(parent, counts, "counts_per_class.csv")
        sizes = hard_sets.sum(1).float()
        metrics = {"hard/count_mean": float(sizes.mean()), "hard/count_std": float(sizes.std(correction=0))}
        metrics |= {f"hard/class_{c}": float(v) for c, v in enumerate(class_counts.float().mean(0))}
        if not noise.drop(columns="seed").empty:
            metrics |= {f"{k}_mean": float(v) for k, v in noise.drop(columns="seed").mean().items()}
        tracker.log_metrics(parent, metrics)
    return IdentifySummary(parent, name, counts, noise)
