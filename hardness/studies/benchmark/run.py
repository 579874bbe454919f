"""`hardness benchmark`: several identifiers on the same data and seeds, each through the imbalance grid.

Run layout: a benchmark parent run; under it one grid run per identifier (itself the parent of that
identifier's cell runs); the comparison tables and the headline land on the benchmark parent. Rerunning
the same config resumes: finished cells are skipped. The identifications and every grid's units run where
config.executor says (hardness.studies.common.executors), all submitted before the first is logged; identifiers that read the same
training (confidence and energy with the same seeds) are identified from one fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.engine.divergence import report_diverged
from hardness.engine.progress import Progress, staged
from hardness.engine.resources import grid_models, require_memory
from hardness.identifiers import BASELINE, Identification, get_identifier, is_baseline
from hardness.identifiers.hardsets import check_threshold
from hardness.identifiers.identify import HardSets, group_shared_fits, identify_together, threshold_identification
from hardness.studies.benchmark.compare import (
    build_class_count_table,
    build_gap_table,
    build_headline,
    build_overlap_tables,
    compute_class_error_rates,
)
from hardness.studies.common.executors import open_executor, parallel_fits
from hardness.studies.common.session import Session, open_session, resume_key
from hardness.studies.common.tables import build_score_table
from hardness.studies.datamap.run import log_datamap
from hardness.studies.imbalance.run import finish_grid, submit_grid
from hardness.tracking import schema


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
    check_threshold(names, config.threshold)
    session = open_session(config)
    fits = parallel_fits(config.executor)
    require_memory(config, session.dataset, max(config.imbalance.hard_sets * fits, grid_models(config) * fits,
                                                 config.benchmark.error_models),
                   lever="lower imbalance.models_per_batch, --hard-sets or benchmark.error_models")
    dataset, tracker = session.dataset, session.tracker
    key = resume_key(config, "benchmark")
    with open_executor(config.executor, threads=config.train.threads) as executor, \
            session.run(f"benchmark-{dataset.name}", schema.Kind.BENCHMARK, key=key) as parent:
        n_sets = config.imbalance.hard_sets
        every = group_shared_fits(config, [BASELINE, *(name for name in names if not is_baseline(name))])
        identified = {name: identification for _, found in executor.map(
            identify_unit, every, {"dataset": dataset, "config": config, "n_models": n_sets},
            progress=staged(progress, "identify"), label="identifier") for name, identification in found.items()}
        reference = threshold_identification(dataset, config, identified.pop(BASELINE))
        found = {name: threshold_identification(dataset, config, identified[name], reference=reference)
                 if name in identified else reference for name in names}
        found.setdefault(BASELINE, reference)
        sets = _pair_left_out(found)
        keys = {name: resume_key(config, "benchmark-grid", name) for name in names}
        submitted = {name: submit_grid(session, name, sets[name], executor,
                                       parent=tracker.find_run_by_tag(schema.RESUME_KEY, keys[name]),
                                       progress=staged(progress, f"grid {name}")) for name in names}
        grids = {}
        for name in names:  # every grid's units are already with the executor; log them identifier by identifier
            with session.run(f"grid-{name}", schema.Kind.IMBALANCE, identifier=name, parent_run_id=parent,
                             key=keys[name]) as grid_run:
                grids[name] = finish_grid(session, grid_run, submitted[name]).cells
                scores = identified[name].scores if name in identified else None
                if scores is not None:  # what `hardness export` reads beside the grid's hard_sets.csv
                    kept = (~sets[name].diverged).nonzero().flatten().tolist()
                    tracker.log_table(grid_run, build_score_table(dataset, scores[kept], kept), schema.SCORES)
        class_error, error_diverged = compute_class_error_rates(_error_dataset(session), config)
        report_diverged(error_diverged, "class-error models")
        kept = {name: hard_sets.kept for name, hard_sets in sets.items()}
        class_counts = build_class_count_table(kept, dataset.y, dataset.n_classes, class_error)
        gaps = build_gap_table(grids)
        headline = build_headline(gaps, kept, class_counts, class_error, baseline=BASELINE)
        tracker.log_table(parent, gaps, schema.GAPS)
        tracker.log_table(parent, headline, schema.HEADLINE)
        tracker.log_table(parent, class_counts, schema.CLASS_COUNTS)
        for measure, table in build_overlap_tables(kept).items():
            tracker.log_table(parent, table.reset_index(names="identifier"), schema.matrix_table(measure))
        measures = headline.set_index("identifier")[["gap", "acc/hard", "acc/easy"]]
        tracker.log_metrics(parent, {f"{measure}/{name}": float(value) for name, row in measures.iterrows()
                                     for measure, value in row.items() if pd.notna(value)})
        if config.tracking.datamap:
            log_datamap(tracker, parent, dataset)
        session.describe(parent, "easy-minus-hard accuracy gap: " + ", ".join(
            f"{name} {row['gap']:.3f}" for name, row in measures.iterrows()))
    return BenchmarkSummary(parent, headline, class_counts)


def identify_unit(names: tuple[str, ...], *, dataset: Dataset, config: Config, n_models: int,
                  progress: Progress | None = None) -> dict[str, Identification]:
    """The identifications of identifiers that share one training (group_shared_fits), n_models seeds: the work unit
    of the benchmark's identification stage."""
    return identify_together(dataset, config, names, n_models, progress=progress)


def _pair_left_out(found: dict[str, HardSets]) -> dict[str, HardSets]:
    """Hard sets are compared by seed: a model left out of one identifier (it diverged) is left out of all."""
    left_out = torch.stack([hard_sets.diverged for hard_sets in found.values()]).any(0)
    report_diverged(left_out, "paired identification models")
    return {name: HardSets(hard_sets.hard & ~left_out.unsqueeze(1), left_out) for name, hard_sets in found.items()}


def _error_dataset(session: Session):
    """The data the class error rates are measured on: the benchmark's own (sub)set, or for the reference split
    the whole dataset with clean labels (the split is then drawn regardless of `subset_size`)."""
    if session.config.benchmark.error_split == "random":
        return session.dataset
    return load_dataset(session.config.data.model_copy(update={"subset_size": None, "label_noise": 0.0}),
                        session.config.seed)
