"""`hardness export`: read a finished run's verdicts from the tracking store, write one row per sample (CSV or
Parquet) and, on request, the data without the flagged samples in its source's own format.

What each kind of run logged: `hardness run` the stragglers of every model (stragglers.csv, column model; the seeds
that diverged are left out) and the mean inversion epoch per class (per_class.csv); `identify` a hard set per kept
seed (hard_sets/seed_<k>.csv; counts_per_class.csv names the seeds) and scores.csv; `imbalance` and each grid of a
`benchmark` their hard sets (hard_sets.csv, column hard_set) and, for score identifiers, scores.csv. Every top-level
run holds samples.csv and config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hardness.config import DataConfig, build_config, parse_yaml
from hardness.errors import UserError
from hardness.studies.common.destinations import check_output_file, check_output_folder, written_whole
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

FORMATS = ("csv", "parquet")
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

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "identifiers": self.identifiers,
                "n_samples": self.n_samples, "n_rows": self.n_rows, "out": str(self.out),
                "clean_out": None if self.clean_out is None else str(self.clean_out), "n_clean": self.n_clean}


def run_export(run_id: str, *, tracking_uri: str | None = None, fmt: str | None = None, out: Path | None = None,
               min_agreement: float | None = None, clean_out: Path | None = None) -> ExportSummary:
    """Export run `run_id` (a `hardness run`, `identify`, `imbalance` or `benchmark` run) as one row per sample."""
    fmt = fmt or ("parquet" if out is not None and out.suffix == ".parquet" else "csv")
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose from: {', '.join(FORMATS)}")
    out = out or Path(f"export-{run_id[:8]}.{fmt}")
    check_output_file(out, "--out")
    if clean_out is not None:
        check_output_folder(clean_out, "--clean-out")
        if clean_out.exists() and any(clean_out.iterdir()):
            raise UserError(f"--clean-out folder {clean_out} is not empty: name a new or empty folder")
    tracker, row = _open_run(tracking_uri, run_id)
    kind = row[f"tags.{schema.KIND}"]
    with quiet_downloads():
        samples = tracker.load_table(run_id, schema.SAMPLES)
        flags, inversion = READERS[kind](tracker, run_id, row, samples)
        logged = tracker.load_text(run_id, schema.CONFIG) if clean_out is not None else None
    table = build_export_table(samples, flags, inversion=inversion)
    kept = keep_agreeing(table, min_agreement)
    save_table(kept, out, fmt)
    summary = ExportSummary(run_id, kind, identifiers_of(table), len(table), len(kept), out)
    if clean_out is None:
        return summary
    from hardness.datasets.write import write_subset

    config = build_config(parse_yaml(logged, f"config.yaml of run {run_id}"))
    data = locate_data(config.data, row.get(f"tags.{schema.DATA_SOURCE}"))
    check_unchanged(data, config.seed, row.get(f"tags.{schema.FINGERPRINT}"), run_id)
    keep = np.setdiff1d(samples["original_index"].to_numpy(), find_flagged(table, min_agreement))
    with written_whole(clean_out) as partial:  # the folder appears complete or not at all
        written = write_subset(data, keep, partial)  # then renamed onto clean_out, which is absent or empty
    return replace(summary, clean_out=clean_out / written.relative_to(partial), n_clean=len(keep))


def check_unchanged(data: DataConfig, seed: int, fingerprint: object, run_id: str) -> None:
    """Refuse (exit 2) to write a clean copy from data that is no longer what run `run_id` saw: the flags name samples
    by position, so a file reordered, cut or edited since would drop the wrong ones. The data is prepared again as the
    run prepared it and its fingerprint compared with the run's (runs without one are not checked)."""
    from hardness.datasets.prepare import load_dataset

    if not isinstance(fingerprint, str):
        return
    now = load_dataset(data, seed).fingerprint
    if now != fingerprint:
        raise UserError(f"the data at {data.path or data.root} changed since run {run_id} read it (fingerprint {now}, "
                        f"the run's {fingerprint}): restore the file the run used, or run the study again on this one")


def locate_data(data: DataConfig, source: object) -> DataConfig:
    """`data` with a relative data.path (or data.root) replaced by `source`, where the run found it (its tag
    DATA_SOURCE, an absolute path), so relative paths mean what they meant to the run, not to the current folder;
    as logged when the path is absolute or the run recorded no source (runs from before the tag: the current folder)."""
    field = "path" if data.path is not None else "root"
    if not isinstance(source, str) or not Path(source).is_absolute() or Path(getattr(data, field)).is_absolute():
        return data
    return data.model_copy(update={field: source})


def _open_run(tracking_uri: str | None, run_id: str) -> tuple[Tracker, dict]:
    """The tracker of the run's experiment and the run's row; refused unless it is a finished top-level run of a kind
    export reads."""
    store = Tracker(tracking_uri, "Default", must_exist=True)
    row = store.get_run(run_id)
    kind = row.get(f"tags.{schema.KIND}")
    if kind not in READERS:
        raise UserError(f"run {run_id} is a {kind or 'non-hardness'} run: export reads `hardness run`, identify, "
                        f"imbalance and benchmark runs")
    parent = row.get(f"tags.{schema.PARENT_RUN_ID}")
    if isinstance(parent, str):
        raise UserError(f"run {run_id} is part of run {parent}: export {parent}")
    if row["status"] != "FINISHED":
        raise UserError(f"run {run_id} is {row['status']}, not FINISHED: its verdicts may be incomplete; export a "
                        f"finished run")
    return Tracker(store.uri, row["experiment"], must_exist=True), row


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
