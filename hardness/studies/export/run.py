"""`hardness export`: read a finished run's verdicts from the tracking store, write one row per sample (CSV or
Parquet) and, on request, the data without the flagged samples in its source's own format.

What each kind of run logged: `hardness run` the stragglers of every model (stragglers.csv, column model; the seeds
that diverged are left out) and the mean inversion epoch per class (per_class.csv); `identify` a hard set per kept
seed (hard_sets/seed_<k>.csv; counts_per_class.csv names the seeds) and scores.csv; `imbalance` and each grid of a
`benchmark` their hard sets (hard_sets.csv, column hard_set) and, for score identifiers, scores.csv; `diagnose` its
diagnosis.csv, exported as it is (`--verdict` keeps chosen verdicts; in a clean copy `--relabel` gives the label errors
their suggested labels instead of dropping them). Every top-level run holds samples.csv and config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hardness.config import Config, DataConfig, build_config, parse_yaml
from hardness.errors import UserError
from hardness.studies.common.destinations import check_output_file, check_output_folder, written_whole
from hardness.studies.export.diagnosed import keep_verdicts, parse_verdicts, plan_clean
from hardness.studies.export.review import (
    EXTENSIONS,
    LABEL_STUDIO,
    REVIEW,
    build_label_config,
    build_review_rows,
    build_tasks,
    class_names_of,
    dump_tasks,
)
from hardness.studies.export.table import (
    Flags,
    build_export_table,
    find_flagged,
    flags_from_tables,
    identifiers_of,
    keep_agreeing,
)
from hardness.studies.report.load import load_table, quiet_downloads
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker

if TYPE_CHECKING:
    from hardness.datasets.prepare import Dataset

FORMATS = ("csv", "parquet", REVIEW, LABEL_STUDIO)
SEED = "seed_"
Verdicts = tuple[dict[str, Flags], np.ndarray | None]
"""What a reader returns: each identifier's Flags, and the mean inversion epoch per class (`hardness run` only)."""


@dataclass(frozen=True)
class ExportSummary:
    """What `hardness export` wrote: the table (rows of how many samples) and the cleaned data, if asked."""

    run_id: str
    kind: str
    identifiers: list[str]
    n_samples: int
    n_rows: int
    out: Path
    clean_out: Path | None = None
    n_clean: int | None = None
    n_relabelled: int = 0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "identifiers": self.identifiers,
                "n_samples": self.n_samples, "n_rows": self.n_rows, "out": str(self.out),
                "clean_out": None if self.clean_out is None else str(self.clean_out), "n_clean": self.n_clean,
                "n_relabelled": self.n_relabelled}


def run_export(run_id: str, *, tracking_uri: str | None = None, fmt: str | None = None, out: Path | None = None,
               min_agreement: float | None = None, clean_out: Path | None = None, verdicts: str | None = None,
               relabel: bool = False) -> ExportSummary:
    """Export run `run_id` (a `hardness run`, `identify`, `imbalance`, `benchmark` or `diagnose` run) as one row per
    sample; `verdicts` (comma-separated) and `relabel` read a diagnose run's verdicts."""
    chosen = parse_verdicts(verdicts)
    fmt = fmt or ("parquet" if out is not None and out.suffix == ".parquet" else "csv")
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose from: {', '.join(FORMATS)}")
    out = out or Path(f"export-{run_id[:8]}.{EXTENSIONS.get(fmt, fmt)}")
    check_output_file(out, "--out")
    if clean_out is not None:
        check_output_folder(clean_out, "--clean-out")
        if clean_out.exists() and any(clean_out.iterdir()):
            raise UserError(f"--clean-out folder {clean_out} is not empty: name a new or empty folder")
    tracker, row = open_run(tracking_uri, run_id)
    kind = row[f"tags.{schema.KIND}"]
    diagnosed = kind == schema.Kind.DIAGNOSE
    _check_options(kind, diagnosed, chosen, relabel, min_agreement, clean_out)
    with quiet_downloads():
        samples = tracker.load_table(run_id, schema.SAMPLES)
        table = read_verdicts(tracker, run_id, row, samples)
    kept = keep_verdicts(table, chosen) if diagnosed else keep_agreeing(table, min_agreement)
    if fmt in EXTENSIONS:
        kept = build_review_rows(kept, class_names_of(samples), chosen=chosen is not None or min_agreement is not None)
        _save_review(kept, out, fmt, tracker, run_id, row)
    else:
        save_table(kept, out, fmt)
    summary = ExportSummary(run_id, kind, identifiers_of(table), len(table), len(kept), out)
    if clean_out is None:
        return summary
    from hardness.datasets.write import write_subset

    with quiet_downloads():
        _, data, _ = load_run_data(tracker, run_id, row)
    if diagnosed:
        keep, new_labels = plan_clean(table, chosen, relabel)
    else:
        keep, new_labels = np.setdiff1d(samples["original_index"].to_numpy(), find_flagged(table, min_agreement)), {}
    with written_whole(clean_out) as partial:  # the folder appears complete or not at all
        written = write_subset(data, keep, partial, new_labels)  # then renamed onto clean_out, absent or empty
    return replace(summary, clean_out=clean_out / written.relative_to(partial), n_clean=len(keep),
                   n_relabelled=len(new_labels))


def _check_options(kind: str, diagnosed: bool, verdicts: tuple[str, ...] | None, relabel: bool,
                   min_agreement: float | None, clean_out: Path | None) -> None:
    """Refuse (UserError) options the run's kind does not read: verdicts belong to diagnose runs, agreement to the
    others; --relabel changes a clean copy."""
    if not diagnosed and (verdicts is not None or relabel):
        raise UserError(f"--verdict and --relabel read a diagnose run's verdicts; this is a {kind} run: use "
                        f"--min-agreement, or export a `hardness diagnose` run")
    if diagnosed and min_agreement is not None:
        raise UserError("a diagnose run gives verdicts, not agreement: choose rows with --verdict (label_error, "
                        "outlier, hard, easy)")
    if relabel and clean_out is None:
        raise UserError("--relabel applies the suggested labels in a clean copy: give --clean-out DIR")


def load_run_data(tracker: Tracker, run_id: str, row: dict) -> tuple[Config, DataConfig, Dataset]:
    """The config run `run_id` logged, where its data is now (locate_data), and that data prepared again as the run
    prepared it. Refused (exit 2) when the data is no longer what the run saw: verdicts name samples by position, so a
    file reordered, cut or edited since would mean the wrong samples (runs without a fingerprint are not checked)."""
    from hardness.datasets.prepare import load_dataset

    config = build_config(parse_yaml(tracker.load_text(run_id, schema.CONFIG), f"config.yaml of run {run_id}"))
    data = locate_data(config.data, row.get(f"tags.{schema.DATA_SOURCE}"))
    dataset = load_dataset(data, config.seed)
    fingerprint = row.get(f"tags.{schema.FINGERPRINT}")
    if isinstance(fingerprint, str) and dataset.fingerprint != fingerprint:
        raise UserError(f"the data at {data.path or data.root} changed since run {run_id} read it (fingerprint "
                        f"{dataset.fingerprint}, the run's {fingerprint}): restore the file the run used, or run the "
                        f"study again on this one")
    return config, data, dataset


def locate_data(data: DataConfig, source: object) -> DataConfig:
    """`data` with a relative data.path (or data.root) replaced by `source`, where the run found it (its tag
    DATA_SOURCE, an absolute path), so relative paths mean what they meant to the run, not to the current folder;
    as logged when the path is absolute or the run recorded no source (runs from before the tag: the current folder)."""
    field = "path" if data.path is not None else "root"
    if not isinstance(source, str) or not Path(source).is_absolute() or Path(getattr(data, field)).is_absolute():
        return data
    return data.model_copy(update={field: source})


def read_verdicts(tracker: Tracker, run_id: str, row: dict, samples: pd.DataFrame) -> pd.DataFrame:
    """The export table of a run: a diagnose run's diagnosis.csv as logged, else built from the run's flags."""
    if row[f"tags.{schema.KIND}"] == schema.Kind.DIAGNOSE:
        return tracker.load_table(run_id, schema.DIAGNOSIS)
    flags, inversion = READERS[row[f"tags.{schema.KIND}"]](tracker, run_id, row, samples)
    return build_export_table(samples, flags, inversion=inversion)


def open_run(tracking_uri: str | None, run_id: str) -> tuple[Tracker, dict]:
    """The tracker of the run's experiment and the run's row; refused unless it is a finished top-level run of a kind
    export reads."""
    store = Tracker(tracking_uri, "Default", must_exist=True)
    row = store.get_run(run_id)
    kind = row.get(f"tags.{schema.KIND}")
    if kind not in READERS and kind != schema.Kind.DIAGNOSE:
        raise UserError(f"run {run_id} is a {kind or 'non-hardness'} run: export reads `hardness run`, identify, "
                        f"imbalance, benchmark and diagnose runs")
    parent = row.get(f"tags.{schema.PARENT_RUN_ID}")
    if isinstance(parent, str):
        raise UserError(f"run {run_id} is part of run {parent}: export {parent}")
    if row["status"] != "FINISHED":
        raise UserError(f"run {run_id} is {row['status']}, not FINISHED: its verdicts may be incomplete; export a "
                        f"finished run")
    return Tracker(store.uri, row["experiment"], must_exist=True), row


def _save_review(rows: pd.DataFrame, out: Path, fmt: str, tracker: Tracker, run_id: str, row: dict) -> None:
    """The review rows as a spreadsheet CSV, or as Label Studio tasks (the run's data read for the images) with
    their labeling config beside them (<out>.xml)."""
    if fmt == REVIEW:
        return save_table(rows, out, "csv")
    with quiet_downloads():
        _, _, dataset = load_run_data(tracker, run_id, row)
    names = dataset.class_names or tuple(str(c) for c in range(dataset.n_classes))
    tasks = build_tasks(rows, dataset, names, f"hardness {row[f'tags.{schema.KIND}']} {run_id}")
    for target, text in ((out.with_suffix(".xml"), build_label_config(names, images=dataset.image_shape is not None)),
                         (out, dump_tasks(tasks))):
        with written_whole(target) as partial:
            partial.write_text(text, encoding="utf-8")
    return None


def save_table(table: pd.DataFrame, out: Path, fmt: str) -> None:
    """Write `table` (no index) to `out` as CSV or Parquet, creating its folder; all of it or nothing."""
    with written_whole(out) as partial:
        if fmt == "parquet":
            table.to_parquet(partial, index=False)
        else:
            table.to_csv(partial, index=False)


def _children(tracker: Tracker, run_id: str) -> pd.DataFrame:
    """The runs whose parent is `run_id`."""
    return tracker.find_runs(f"tags.`{schema.PARENT_RUN_ID}` = '{run_id}'")


def _read_stragglers(tracker: Tracker, run_id: str, row: dict, samples: pd.DataFrame) -> Verdicts:
    """The stragglers of each seed that did not diverge, and the mean inversion epoch per class."""
    stragglers = tracker.load_table(run_id, schema.STRAGGLERS_TABLE)
    seeds = _children(tracker, run_id)
    seeds = seeds[(seeds["status"] == "FINISHED") & (_tags(seeds, schema.DIVERGED) != "true")]
    models = sorted(pd.to_numeric(seeds["params.model.index"]).astype(int))
    flagged = {k: stragglers.loc[stragglers["model"] == k, "original_index"] for k in models}
    per_class = tracker.load_table(run_id, schema.PER_CLASS).set_index("class")["inversion_epoch_mean"]
    inversion = per_class.reindex(range(int(samples["label"].max()) + 1)).to_numpy(dtype=float)
    return {schema.BASELINE_IDENTIFIER: flags_from_tables(samples, flagged)}, inversion


def _read_identify(tracker: Tracker, run_id: str, row: dict, samples: pd.DataFrame) -> Verdicts:
    """The hard set of each kept seed, and the scores when the identifier gives them."""
    counts = tracker.load_table(run_id, schema.COUNTS_PER_CLASS)
    seeds = [int(c.removeprefix(SEED)) for c in counts.columns if c.startswith(SEED)]
    flagged = {k: tracker.load_table(run_id, schema.hard_set_table(k))["original_index"] for k in seeds}
    name = row[f"tags.{schema.IDENTIFIER}"]
    return {name: flags_from_tables(samples, flagged, load_table(tracker, run_id, schema.SCORES))}, None


def _read_imbalance(tracker: Tracker, run_id: str, row: dict, samples: pd.DataFrame) -> Verdicts:
    """An imbalance run's hard sets (and scores)."""
    return {row[f"tags.{schema.IDENTIFIER}"]: _grid_flags(tracker, run_id, samples)}, None


def _read_benchmark(tracker: Tracker, run_id: str, row: dict, samples: pd.DataFrame) -> Verdicts:
    """The hard sets (and scores) of each identifier's grid, in the order the benchmark ran them."""
    grids = _children(tracker, run_id).sort_values("start_time", kind="stable")
    grids = grids[(_tags(grids, schema.KIND) == str(schema.Kind.IMBALANCE)) & (grids["status"] == "FINISHED")]
    return {name: _grid_flags(tracker, grid, samples)
            for name, grid in zip(_tags(grids, schema.IDENTIFIER), grids["run_id"])}, None


def _grid_flags(tracker: Tracker, run_id: str, samples: pd.DataFrame) -> Flags:
    """One imbalance grid's verdicts: its hard sets of the models kept (a score column each for a score identifier,
    else every hard set holding samples: a left-out set holds none) and the scores."""
    hard_sets = tracker.load_table(run_id, schema.HARD_SETS)
    scores = load_table(tracker, run_id, schema.SCORES)
    seeds = (sorted(hard_sets["hard_set"].unique()) if scores is None
             else [int(c.removeprefix(SEED)) for c in scores.columns if c.startswith(SEED)])
    flagged = {k: hard_sets.loc[hard_sets["hard_set"] == k, "original_index"] for k in seeds}
    return flags_from_tables(samples, flagged, scores)


def _tags(runs: pd.DataFrame, name: str) -> pd.Series:
    """A tag's values as text ('nan' where a run lacks it)."""
    column = f"tags.{name}"
    return runs[column].astype(str) if column in runs else pd.Series("nan", index=runs.index)


READERS = {str(schema.Kind.STRAGGLERS): _read_stragglers, str(schema.Kind.IDENTIFY): _read_identify,
           str(schema.Kind.IMBALANCE): _read_imbalance, str(schema.Kind.BENCHMARK): _read_benchmark}
"""Per run kind: (tracker, run id, run row, samples) -> ({identifier: Flags}, inversion epoch per class or None)."""
