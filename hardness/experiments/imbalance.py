"""`hardness imbalance`: the in-class imbalance grid for one identifier, tracked and resumable.

One parent run per (config, identifier); one child run per grid cell, tagged `hardness.cell`. Rerunning
the same config reopens that parent and skips cells already FINISHED; cells of a batch that was
interrupted have no finished run and are trained again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hardness.config import Config, dump_config
from hardness.data import Dataset, load_dataset
from hardness.experiments.identify import identify_hard_sets
from hardness.identifiers.base import Progress
from hardness.imbalance import CellResult, build_cells, evaluate_cells
from hardness.tracking import Tracker, tracking_tags


@dataclass(frozen=True)
class GridSummary:
    """The grid's cells (one row per cell: params and mean/std metrics) and where they are logged."""

    parent_run_id: str
    identifier: str
    cells: pd.DataFrame
    skipped: int

    def headline(self) -> pd.DataFrame:
        """Mean over hard sets per (train ratio, remaining): accuracy on all / hard / easy and the gap."""
        columns = ["acc/all", "acc/hard", "acc/easy", "gap/acc"]
        return self.cells.groupby(["train_ratio", "remaining"], as_index=False)[columns].mean()


def config_hash(config: Config, *parts: str) -> str:
    """Identifies an experiment for resuming: the resolved config (tracking excluded) and extra parts."""
    tree = config.model_dump(exclude={"tracking"})
    return hashlib.sha256((repr(tree) + "|".join(parts)).encode()).hexdigest()[:16]


def run_imbalance(config: Config, *, progress: Progress | None = None) -> GridSummary:
    """Identify hard sets with config.identifier, then run (or resume) the imbalance grid on them."""
    tracker = Tracker(config.tracking.uri, config.tracking.experiment)
    dataset = load_dataset(config.data, config.seed)
    name = config.identifier.name
    key = config_hash(config, "imbalance", name)
    tags = {**tracking_tags(), "hardness.kind": "imbalance", "hardness.identifier": name,
            "hardness.dataset": dataset.name, "hardness.fingerprint": dataset.fingerprint}
    with tracker.resumable_run(f"imbalance-{name}-{dataset.name}", key, params={**config.flat(), "identifier": name},
                               tags=tags) as parent:
        tracker.log_text(parent, dump_config(config), "config.yaml")
        hard_sets = identify_hard_sets(dataset, config, name, config.imbalance.hard_sets, progress=progress)
        return run_grid(tracker, parent, dataset, config, name, hard_sets, tags=tags, progress=progress)


def run_grid(tracker: Tracker, parent: str, dataset: Dataset, config: Config, identifier: str,
             hard_sets: torch.Tensor, *, tags: dict[str, str], progress: Progress | None = None) -> GridSummary:
    """Run the cells not yet FINISHED under `parent`, log each as a child run, return all cells."""
    tracker.log_table(parent, _hard_set_table(dataset, hard_sets), "hard_sets.csv")
    done = tracker.finished_runs_by_tag("hardness.cell", parent_run_id=parent)
    cells = [cell for cell in build_cells(config, len(hard_sets)) if cell.key not in done]
    for results in evaluate_cells(dataset, config, hard_sets, cells, progress=progress):
        for result in results:
            _log_cell(tracker, parent, dataset, config, identifier, result, tags)
    children = tracker.finished_runs_by_tag("hardness.cell", parent_run_id=parent)
    frame = _cells_frame(tracker, list(children.values()))
    tracker.log_table(parent, frame, "cells.csv")
    tracker.log_metrics(parent, {f"{k}_mean": float(v) for k, v in frame[["acc/all", "acc/hard", "acc/easy",
                                                                            "gap/acc"]].mean().items()})
    return GridSummary(parent, identifier, frame, len(done))


def _log_cell(tracker: Tracker, parent: str, dataset: Dataset, config: Config, identifier: str,
              result: CellResult, tags: dict[str, str]) -> None:
    cell, split = result.cell, result.split
    params = {"identifier": identifier, "hard_set": cell.hard_set, "train_ratio": cell.train_ratio,
              "remaining": cell.remaining, "reduce": config.imbalance.reduce, "inits": config.imbalance.inits,
              "n_train": len(split.train), "n_test_hard": len(split.test_hard), "n_test_easy": len(split.test_easy)}
    metrics = {name: float(np.nanmean(values)) for name, values in result.metrics.items()}
    metrics |= {f"{name}_std": float(np.nanstd(values)) for name, values in result.metrics.items()}
    with tracker.run(f"cell-{cell.key}", parent_run_id=parent, params=params,
                     tags={**tags, "hardness.cell": cell.key}) as child:
        tracker.log_metrics(child, {k: v for k, v in metrics.items() if np.isfinite(v)})
        tracker.log_table(child, pd.DataFrame({"init": range(config.imbalance.inits), **result.metrics}),
                          "metrics_per_init.csv")
        tracker.log_table(child, _split_table(dataset, result), "split.csv")


def _split_table(dataset: Dataset, result: CellResult) -> pd.DataFrame:
    """Original indices of the cell's training, hard-test and easy-test samples."""
    parts = {"train": result.split.train, "test_hard": result.split.test_hard, "test_easy": result.split.test_easy}
    return pd.concat([pd.DataFrame({"original_index": dataset.index[positions].numpy(), "part": part})
                      for part, positions in parts.items()], ignore_index=True)


def _hard_set_table(dataset: Dataset, hard_sets: torch.Tensor) -> pd.DataFrame:
    rows, positions = hard_sets.nonzero(as_tuple=True)
    return pd.DataFrame({"hard_set": rows.numpy(), "original_index": dataset.index[positions].numpy(),
                         "label": dataset.y[positions].numpy()})


def _cells_frame(tracker: Tracker, run_ids: list[str]) -> pd.DataFrame:
    """One row per finished cell run: grid params and metrics, columns without the mlflow prefixes."""
    runs = tracker.find_runs(run_ids=run_ids)
    frame = pd.DataFrame({
        "run_id": runs["run_id"],
        "hard_set": runs["params.hard_set"].astype(int),
        "train_ratio": runs["params.train_ratio"].astype(float),
        "remaining": runs["params.remaining"].astype(float),
    })
    metrics = runs[[c for c in runs.columns if c.startswith("metrics.")]]
    frame = pd.concat([frame, metrics.rename(columns=lambda c: c.removeprefix("metrics."))], axis=1)
    return frame.sort_values(["hard_set", "train_ratio", "remaining"]).reset_index(drop=True)
