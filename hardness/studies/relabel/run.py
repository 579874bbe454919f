"""`hardness relabel`: a reviewer's corrections to a run's labels written as a new version of its data (in the
source's own format; built-in datasets as npz), tracked as a relabel run whose dataset input names the parent's digest
and the corrections file; with `measure`, what training on the corrected data buys (hardness.studies.relabel.measure).

Data the run saw with injected label noise (data.label_noise) is written as the run saw it, flips included, and the
new config reads it without noise: the corrections then answer the labels the reviewer was shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hardness.config import Config, DataConfig, dump_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.errors import UserError
from hardness.studies.common.destinations import check_output_folder, written_whole
from hardness.studies.common.session import describe_dataset, open_session
from hardness.studies.common.tables import build_sample_table
from hardness.studies.datamap.verdicts import EASY, build_review_table
from hardness.studies.export.review import class_names_of
from hardness.studies.export.run import load_run_data, open_run, read_verdicts
from hardness.studies.relabel.chart import plot_fix
from hardness.studies.relabel.corrections import parse_corrections, plan_corrections
from hardness.studies.relabel.measure import choose_reference, measure_fix
from hardness.studies.relabel.summary import summarise_fix
from hardness.studies.report.load import quiet_downloads
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker


@dataclass(frozen=True)
class RelabelSummary:
    """What `hardness relabel` did: the new run, the labels it changed, the data written, and (measured) the fix."""

    run_id: str
    source_run_id: str
    n_corrected: int
    data: Path
    fix: pd.DataFrame | None = None
    reference: str | None = None

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "source_run_id": self.source_run_id, "n_corrected": self.n_corrected,
                "data": str(self.data), "reference": self.reference,
                "fix": None if self.fix is None else self.fix.to_dict(orient="records")}


def run_relabel(run_id: str, corrections: Path, *, tracking_uri: str | None = None, out: Path | None = None,
                measure: bool = False) -> RelabelSummary:
    """Apply `corrections` (CSV or Label Studio export) to run `run_id`'s data, write the new version under `out`
    (default relabelled-<run id>/), log it as a relabel run and, with `measure`, train and compare the arms."""
    where = f"--corrections {corrections}"
    if not corrections.is_file():
        raise UserError(f"{where} is not a file")
    out = out or Path(f"relabelled-{run_id[:8]}")
    check_output_folder(out, "--out")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out folder {out} is not empty: name a new or empty folder")
    tracker, row = open_run(tracking_uri, run_id)
    with quiet_downloads():
        samples = tracker.load_table(run_id, schema.SAMPLES)
        review = build_review_table(read_verdicts(tracker, run_id, row, samples))
        config, data, dataset = load_run_data(tracker, run_id, row)
    plan = plan_corrections(parse_corrections(corrections.read_text(encoding="utf-8"), corrections.suffix.lower(), where),
                            samples, class_names_of(samples), where)
    if plan.empty:
        raise UserError(f"{where} changes no label of run {run_id}: nothing to relabel")
    corrected = apply_plan(dataset, plan)
    new_config, new_dataset = _write_version(config, data, dataset, corrected, out)
    session = open_session(new_config, tracker=Tracker(tracker.uri, row["experiment"]), dataset=new_dataset)
    tags = session.tags_for(schema.Kind.RELABEL, **{schema.RELABEL_SOURCE: run_id})
    fix = reference = None
    with session.tracker.run(f"relabel-{dataset.name}", params=new_config.flat(), tags=tags) as new_run:
        described = describe_dataset(new_config, new_dataset)
        described["source"] = json.dumps({"uri": str(Path(new_config.data.path).resolve()),
                                          "parent_digest": dataset.fingerprint[:36], "parent_run_id": run_id,
                                          "corrections": str(corrections.resolve())})
        session.tracker.log_dataset(new_run, **described)
        session.tracker.log_text(new_run, dump_config(new_config), schema.CONFIG)
        session.tracker.log_table(new_run, build_sample_table(new_dataset), schema.SAMPLES)
        session.tracker.log_table(new_run, plan, schema.CORRECTIONS)
        session.tracker.log_file(new_run, corrections, "corrections_source")
        session.tracker.log_metrics(new_run, {"corrected": len(plan), "corrected_fraction": len(plan) / len(samples)})
        headline = f"{len(plan)} labels corrected (run {run_id})"
        if measure:
            hard = flagged_mask(review, dataset)
            reference = choose_reference(dataset, corrected)[0]
            table = measure_fix(dataset, corrected, hard, config)
            fix = summarise_fix(table)
            _log_fix(session.tracker, new_run, table, fix, reference)
            headline += "; test accuracy " + ", ".join(
                f"{r.arm} {r.acc_mean:.4f}" for r in fix[fix["part"] == "all"].itertuples())
        session.describe(new_run, headline)
    return RelabelSummary(new_run, run_id, len(plan), Path(new_config.data.path), fix, reference)


def apply_plan(dataset: Dataset, plan: pd.DataFrame) -> torch.Tensor:
    """The dataset's labels [N] with the plan's corrected labels at their samples."""
    positions = pd.Index(dataset.index.numpy()).get_indexer(plan["original_index"])
    corrected = dataset.y.clone()
    corrected[torch.from_numpy(positions)] = torch.tensor(plan["corrected_label"].to_numpy(dtype=np.int64))
    return corrected


def flagged_mask(review: pd.DataFrame, dataset: Dataset) -> torch.Tensor:
    """Bool [N] over the dataset's samples: a verdict other than easy (the hard test part)."""
    flagged = review.loc[review["verdict"] != EASY, "original_index"]
    return torch.from_numpy(np.isin(dataset.index.numpy(), flagged.to_numpy()))


def _write_version(config: Config, data: DataConfig, dataset: Dataset, corrected: torch.Tensor,
                   out: Path) -> tuple[Config, Dataset]:
    """Write the whole source with the run's labels as it saw them and the corrections applied; the config that
    reads it (no label noise: any flips are in the file) and the data it prepares."""
    from hardness.datasets import read_source
    from hardness.datasets.write import write_subset

    changed = (corrected != dataset.clean_y).nonzero().flatten()
    labels = dict(zip(dataset.index[changed].tolist(), corrected[changed].tolist()))
    keep = read_source(data).index.numpy()
    with written_whole(out) as partial:
        written = write_subset(data, keep, partial, labels)
    target = out / written.relative_to(partial)
    fields = {**data.model_dump(), "label_noise": 0.0, "path": str(target)}
    if data.path is None:  # a built-in dataset, written as npz
        fields["name"] = "npz"
    new_data = DataConfig.model_validate(fields)
    new_config = Config.model_validate({**config.model_dump(), "data": new_data.model_dump()})
    return new_config, load_dataset(new_data, config.seed)


def _log_fix(tracker: Tracker, run_id: str, table: pd.DataFrame, fix: pd.DataFrame, reference: str) -> None:
    """The fix's per-model table, its summary, its figure and the headline metrics (acc/<arm>/<part>, and
    gain/<arm>/<part> against the original labels)."""
    tracker.log_table(run_id, table, schema.FIX_TABLE)
    tracker.log_table(run_id, fix, schema.FIX_SUMMARY)
    tracker.log_figure(run_id, plot_fix(fix, reference=reference), schema.FIX_FIGURE)
    metrics = {f"acc/{r.arm}/{r.part}": r.acc_mean for r in fix.itertuples() if pd.notna(r.acc_mean)}
    if "diff_mean" in fix:
        metrics |= {f"gain/{r.arm}/{r.part}": r.diff_mean for r in fix.itertuples() if pd.notna(r.diff_mean)}
    tracker.log_metrics(run_id, metrics)
    tracker.set_tags(run_id, {schema.FIX_REFERENCE: reference})
