"""`hardness imbalance`: the in-class imbalance grid for one identifier, tracked and resumable.

One parent run per (config, identifier); one child run per grid cell, tagged `hardness.cell`. Rerunning
the same config reopens that parent and skips cells already FINISHED; cells of a batch that was
interrupted have no finished run and are trained again. Hard sets of identification models that diverged get no
cells; grid models that diverge are left out of their cell's metrics (a cell whose every model diverged is not
logged), and when every model diverged the run fails (exit 4). The grid's units (grid.plan_units) run where
config.executor says (hardness.studies.common.executors); this process alone logs their cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.divergence import report_diverged
from hardness.engine.progress import Progress
from hardness.engine.resources import grid_models, require_memory
from hardness.identifiers import get_identifier
from hardness.identifiers.identify import HardSets, identify_hard_sets
from hardness.studies.common.checks import check_grid_sets
from hardness.studies.common.executors import Executor, open_executor, parallel_fits
from hardness.studies.common.session import Session, open_session, resume_key
from hardness.studies.common.tables import build_sample_table
from hardness.studies.imbalance.grid import CellResult, GridUnit, build_cells, evaluate_unit, plan_units
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker


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


@dataclass(frozen=True)
class SubmittedGrid:
    """A grid whose pending units are with an executor: their (unit, results) pairs arrive through `results`."""

    identifier: str
    hard_sets: HardSets
    results: Iterator[tuple[GridUnit, list[CellResult]]]
    skipped: int


def run_imbalance(config: Config, *, progress: Progress | None = None) -> GridSummary:
    """Identify hard sets with config.identifier, then run (or resume) the imbalance grid on them."""
    name = config.identifier.name
    get_identifier(name)
    session = open_session(config)
    require_memory(config, session.dataset, max(config.imbalance.hard_sets,
                                                grid_models(config) * parallel_fits(config.executor)),
                   lever="lower imbalance.models_per_batch or --hard-sets")
    key = resume_key(config, "imbalance", name)
    with open_executor(config.executor, threads=config.train.threads) as executor, \
            session.run(f"imbalance-{name}-{session.dataset.name}", schema.Kind.IMBALANCE, identifier=name,
                        key=key) as parent:
        hard_sets = identify_hard_sets(session.dataset, config, name, config.imbalance.hard_sets, progress=progress)
        report_diverged(hard_sets.diverged, f"{name} models")
        return finish_grid(session, parent, submit_grid(session, name, hard_sets, executor, parent=parent,
                                                        progress=progress))


def submit_grid(session: Session, identifier: str, hard_sets: HardSets, executor: Executor, *, parent: str | None,
                progress: Progress | None = None) -> SubmittedGrid:
    """Check the hard sets fit the grid, leave out the cells already FINISHED under `parent` (None: a grid not started
    yet) and those of left-out hard sets, and hand the other cells' units to `executor`."""
    check_grid_sets(hard_sets.hard, session.config, identifier, left_out=hard_sets.diverged)
    done = {} if parent is None else session.tracker.finished_runs_by_tag(schema.CELL, parent_run_id=parent)
    cells = [cell for cell in build_cells(session.config, len(hard_sets.hard))
             if cell.key not in done and not hard_sets.diverged[cell.hard_set]]
    units = plan_units(session.config, hard_sets.hard, cells)
    results = executor.map(evaluate_unit, units, {"dataset": session.dataset, "config": session.config},
                           progress=progress, label="ensemble")
    return SubmittedGrid(identifier, hard_sets, results, len(done))


def finish_grid(session: Session, parent: str, grid: SubmittedGrid) -> GridSummary:
    """Log each cell of the submitted grid as a child run of `parent` as its unit finishes; return all cells."""
    tracker, dataset = session.tracker, session.dataset
    tracker.log_table(parent, _hard_set_table(dataset, grid.hard_sets.hard), schema.HARD_SETS)
    diverged = []
    for _, results in grid.results:
        for result in results:
            diverged.append(result.diverged)
            if not result.diverged.all():
                _log_cell(session, parent, grid.identifier, result)
    if diverged:
        report_diverged(torch.from_numpy(np.concatenate(diverged)), "grid models")
    children = tracker.finished_runs_by_tag(schema.CELL, parent_run_id=parent)
    frame = _cells_frame(tracker, list(children.values()))
    tracker.log_table(parent, frame, schema.CELLS)
    tracker.log_metrics(parent, {f"{k}_mean": float(v) for k, v in frame[["acc/all", "acc/hard", "acc/easy",
                                                                            "gap/acc"]].mean().items()})
    return GridSummary(parent, grid.identifier, frame, grid.skipped)


def _log_cell(session: Session, parent: str, identifier: str, result: CellResult) -> None:
    config, tracker = session.config, session.tracker
    cell, split = result.cell, result.split
    params = {schema.HARD_SET_PARAM: cell.hard_set, schema.TRAIN_RATIO_PARAM: cell.train_ratio,
              schema.REMAINING_PARAM: cell.remaining, schema.REDUCE_PARAM: config.imbalance.reduce,
              "inits": config.imbalance.inits,
              "n_train": len(split.train), "n_test_hard": len(split.test_hard), "n_test_easy": len(split.test_easy)}
    metrics = {name: float(np.nanmean(values)) for name, values in result.metrics.items()}
    metrics |= {f"{name}{schema.STD_SUFFIX}": float(np.nanstd(values)) for name, values in result.metrics.items()}
    with session.run(f"cell-{cell.key}", schema.Kind.IMBALANCE, identifier=identifier, parent_run_id=parent,
                     params=params, tags={schema.CELL: cell.key}) as child:
        tracker.log_metrics(child, {k: v for k, v in metrics.items() if np.isfinite(v)}
                            | {schema.DIVERGED_COUNT: float(result.diverged.sum())})
        tracker.log_table(child, pd.DataFrame({"init": range(config.imbalance.inits), **result.metrics,
                                               schema.DIVERGED_COUNT: result.diverged}), schema.METRICS_PER_INIT)
        tracker.log_table(child, _split_table(session.dataset, result), schema.SPLIT)


def _split_table(dataset: Dataset, result: CellResult) -> pd.DataFrame:
    """Original indices of the cell's training, hard-test and easy-test samples."""
    parts = {"train": result.split.train, "test_hard": result.split.test_hard, "test_easy": result.split.test_easy}
    return pd.concat([pd.DataFrame({"original_index": dataset.index[positions].numpy(), "part": part})
                      for part, positions in parts.items()], ignore_index=True)


def _hard_set_table(dataset: Dataset, hard_sets: torch.Tensor) -> pd.DataFrame:
    """One row per (hard set, hard sample): the set's number, then build_sample_table's columns."""
    rows, positions = hard_sets.nonzero(as_tuple=True)
    table = build_sample_table(dataset, positions)
    table.insert(0, "hard_set", rows.numpy())
    return table


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
