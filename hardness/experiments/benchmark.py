"""`hardness benchmark`: several identifiers on the same data and seeds, each through the imbalance grid.

Run layout: a benchmark parent run; under it one grid run per identifier (itself the parent of that
identifier's cell runs); the comparison tables and the headline land on the benchmark parent. Rerunning
the same config resumes: finished cells are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hardness.benchmark import (build_class_count_table, build_gap_table, build_headline, build_overlap_tables,
                                compute_class_error_rates)
from hardness.config import Config, dump_config
from hardness.data import load_dataset
from hardness.experiments.identify import identify_hard_sets
from hardness.experiments.imbalance import config_hash, run_grid
from hardness.identifiers import get_identifier
from hardness.identifiers.base import Progress
from hardness.tracking import Tracker, tracking_tags


@dataclass(frozen=True)
class BenchmarkSummary:
    """The headline table (one row per identifier) and the benchmark's MLflow run."""

    parent_run_id: str
    headline: pd.DataFrame
    class_counts: pd.DataFrame

    def to_dict(self) -> dict:
        return {"parent_run_id": self.parent_run_id, "headline": self.headline.to_dict(orient="records"),
                "class_counts": self.class_counts.to_dict(orient="records")}


def run_benchmark(config: Config, *, progress: Progress | None = None) -> BenchmarkSummary:
    """Identify with every configured identifier, run each through the grid, log the comparison."""
    names = list(config.benchmark.identifiers)
    for name in names:
        get_identifier(name)
    baseline = "stragglers"
    tracker = Tracker(config.tracking.uri, config.tracking.experiment)
    dataset = load_dataset(config.data, config.seed)
    base_tags = {**tracking_tags(), "hardness.dataset": dataset.name, "hardness.fingerprint": dataset.fingerprint}
    key = config_hash(config, "benchmark")
    tags = {**base_tags, "hardness.kind": "benchmark"}
    with tracker.resumable_run(f"benchmark-{dataset.name}", key, params=config.flat(), tags=tags) as parent:
        tracker.log_text(parent, dump_config(config), "config.yaml")
        n_sets = config.imbalance.hard_sets
        reference = identify_hard_sets(dataset, config, baseline, n_sets, progress=_stage(progress, baseline))
        sets = {name: reference if name == baseline else identify_hard_sets(
            dataset, config, name, n_sets, reference=reference, progress=_stage(progress, name)) for name in names}
        sets.setdefault(baseline, reference)
        grids = {}
        for name in names:
            grid_key = config_hash(config, "benchmark-grid", name)
            grid_tags = {**base_tags, "hardness.kind": "imbalance", "hardness.identifier": name}
            with tracker.resumable_run(f"grid-{name}", grid_key, parent_run_id=parent, params={"identifier": name},
                                       tags=grid_tags) as grid_run:
                grids[name] = run_grid(tracker, grid_run, dataset, config, name, sets[name], tags=grid_tags,
                                       progress=_stage(progress, f"grid {name}")).cells
        class_error = compute_class_error_rates(dataset, config)
        class_counts = build_class_count_table(sets, dataset.y, dataset.n_classes, class_error)
        gaps = build_gap_table(grids)
        headline = build_headline(gaps, sets, class_counts, class_error, baseline=baseline)
        tracker.log_table(parent, gaps, "gaps.csv")
        tracker.log_table(parent, headline, "headline.csv")
        tracker.log_table(parent, class_counts, "class_counts.csv")
        for measure, table in build_overlap_tables(sets).items():
            tracker.log_table(parent, table.reset_index(names="identifier"), f"{measure}_matrix.csv")
        measures = headline.set_index("identifier")[["gap", "acc/hard", "acc/easy"]]
        tracker.log_metrics(parent, {f"{measure}/{name}": float(value) for name, row in measures.iterrows()
                                     for measure, value in row.items() if pd.notna(value)})
    return BenchmarkSummary(parent, headline, class_counts)


def _stage(progress: Progress | None, stage: str) -> Progress | None:
    """A progress callback whose status names the benchmark stage."""
    if progress is None:
        return None
    return lambda done, total, status="": progress(done, total, f"{stage}: {status}")
