"""Read tracked runs for the report: pick them, sort them into sections by kind, and turn each study's metrics,
params and artifacts into the tidy frames `aggregate` and `figures` take.

Every tag key, kind, param, metric and artifact name comes from `hardness.tracking.schema`, the names the writers use;
run rows are in `Tracker.find_runs`' layout (run_id, status, ..., metrics.*, params.*, tags.*).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields

import pandas as pd

from hardness.errors import HardnessError
from hardness.studies.report.aggregate import CELL_KEYS
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker

SOURCE_KINDS = [str(kind) for kind in (schema.Kind.STRAGGLERS, schema.Kind.IMBALANCE, schema.Kind.BENCHMARK,
                                       schema.Kind.SEARCH, schema.Kind.DETECT, schema.Kind.IDENTIFY)]
DEFAULT_REDUCE = "easy"  # ImbalanceConfig.reduce's default, for runs that did not log it


TAGS, PARAMS, METRICS = "tags.", "params.", "metrics."
"""Column prefixes of Tracker.find_runs rows."""


def tag(name: str) -> str:
    return TAGS + name


def param(name: str) -> str:
    return PARAMS + name


def metric(name: str) -> str:
    return METRICS + name


# --- selecting runs ---------------------------------------------------------------------------------

def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """frame[name], or an all-NaN column when the store never logged that key."""
    return frame[name] if name in frame else pd.Series(float("nan"), index=frame.index, dtype=object)


def first(frame: pd.DataFrame, name: str, default: object = None) -> object:
    """The first logged value of column `name`, else `default`."""
    values = column(frame, name).dropna()
    return values.iloc[0] if len(values) else default


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "FINISHED"]


def select_runs(runs: pd.DataFrame, run_ids: Sequence[str] | None) -> pd.DataFrame:
    """The runs `run_ids` and all their descendants (every run when `run_ids` is None); unknown ids raise KeyError."""
    if run_ids is None:
        return runs
    missing = sorted(set(run_ids) - set(runs["run_id"]))
    if missing:
        raise KeyError(", ".join(missing))
    parents = column(runs, tag(schema.PARENT_RUN_ID))
    keep = set(run_ids)
    while True:
        grown = keep | set(runs.loc[parents.isin(keep), "run_id"])
        if grown == keep:
            return runs[runs["run_id"].isin(keep)].reset_index(drop=True)
        keep = grown


def children_of(runs: pd.DataFrame, parent_id: str) -> pd.DataFrame:
    return runs[column(runs, tag(schema.PARENT_RUN_ID)) == parent_id]


def load_runs(tracker: Tracker, experiments: Sequence[str], run_ids: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """(runs, experiments read): the runs of the reported kinds in `experiments` (all when empty), only `run_ids`
    and their descendants if given, oldest first, with an `experiment` column holding its name."""
    names = {e.experiment_id: e.name for e in tracker.client.search_experiments()}
    for name in experiments:
        if name not in names.values():
            raise HardnessError(f"experiment {name!r} not found in {tracker.uri}")
    chosen = list(experiments) or list(names.values())
    try:
        runs = select_runs(tracker.find_runs(experiment_names=chosen), list(run_ids) or None)
    except KeyError as error:
        raise HardnessError(f"run(s) {error.args[0]} not found in experiment(s) {', '.join(chosen)} "
                            f"of {tracker.uri}") from None
    runs = select_runs(runs, runs.loc[column(runs, tag(schema.KIND)).isin(SOURCE_KINDS), "run_id"].tolist())
    if runs.empty:
        raise HardnessError(f"no runs of hardness run / identify / imbalance / benchmark / search / detect found in "
                            f"experiment(s) {', '.join(chosen)} of {tracker.uri}")
    runs = runs.sort_values("start_time", kind="stable").reset_index(drop=True)
    runs.insert(2, "experiment", runs["experiment_id"].astype(str).map(names))
    return runs, chosen


@dataclass(frozen=True)
class Sources:
    """The runs each report section is about, oldest first: studies (not their seeds or trials) and grids."""

    stragglers: list[str]
    grids: list[str]
    benchmarks: list[str]
    searches: list[str]
    detections: list[str]
    identifications: list[str]

    def counts(self) -> dict[str, int]:
        return {field.name: len(getattr(self, field.name)) for field in fields(self)}


def find_sources(runs: pd.DataFrame) -> Sources:
    """FINISHED studies of each kind (runs whose parent is not of their kind; killed, failed, running or stale ones
    are left out) and grids (parents of finished cell runs)."""
    kinds, parents = column(runs, tag(schema.KIND)), column(runs, tag(schema.PARENT_RUN_ID))

    def studies(kind: schema.Kind) -> list[str]:
        mine = kinds == str(kind)
        top = mine & ~parents.isin(runs.loc[mine, "run_id"])
        return runs.loc[top & (runs["status"] == "FINISHED"), "run_id"].tolist()

    cells = column(runs, tag(schema.CELL)).notna() & (runs["status"] == "FINISHED")
    return Sources(studies(schema.Kind.STRAGGLERS), list(dict.fromkeys(parents[cells].dropna())),
                   studies(schema.Kind.BENCHMARK), studies(schema.Kind.SEARCH), studies(schema.Kind.DETECT),
                   studies(schema.Kind.IDENTIFY))


def list_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run read: id, experiment, kind, name, status, parent."""
    return pd.DataFrame({"run_id": runs["run_id"], "experiment": runs["experiment"],
                         "kind": column(runs, tag(schema.KIND)), "name": column(runs, tag(schema.RUN_NAME)),
                         "status": runs["status"], "parent_run_id": column(runs, tag(schema.PARENT_RUN_ID))})


def run_title(runs: pd.DataFrame, run_id: str) -> tuple[str, str]:
    """(file-name suffix, human title) for a run: the first 8 characters of its id, and its name with them."""
    name = first(runs[runs["run_id"] == run_id], tag(schema.RUN_NAME), "run")
    return run_id[:8], f"{name} ({run_id[:8]})"


def load_table(tracker: Tracker, run_id: str, artifact: str) -> pd.DataFrame | None:
    """A CSV artifact, or None when the run did not log it (an older or partial run)."""
    try:
        return tracker.load_table(run_id, artifact)
    except HardnessError:
        return None


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """MLflow draws a progress bar for every artifact it downloads: one per seed would flood the terminal."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


# --- stragglers: `hardness run` -----------------------------------------------------------------------

@dataclass(frozen=True)
class Stragglers:
    """One `hardness run` read back: per seed and class, the radius curves of the seeds that logged them."""

    per_seed: pd.DataFrame
    """long [seed, class, inversion_epoch (NaN: not inverted), stragglers]"""
    curves: pd.DataFrame
    """long [seed, epoch, class, radius]; empty when no seed logged its radii table"""
    dataset: str | None
    warmup: int | None


def seed_classes(seeds: pd.DataFrame) -> pd.DataFrame:
    """The seeds' runs -> long [seed, class, inversion_epoch (NaN: not inverted), stragglers]."""
    epochs, counts = _class_columns(seeds, schema.INVERSION_EPOCH), _class_columns(seeds, schema.STRAGGLERS)
    classes = sorted(set(epochs) | set(counts))
    if not classes:
        return pd.DataFrame(columns=["seed", "class", "inversion_epoch", "stragglers"])
    return pd.concat([pd.DataFrame({"seed": range(len(seeds)), "class": c,
                                    "inversion_epoch": column(seeds, epochs.get(c, "")).astype(float).to_numpy(),
                                    "stragglers": column(seeds, counts.get(c, "")).astype(float).to_numpy()})
                      for c in classes], ignore_index=True)


def _class_columns(runs: pd.DataFrame, prefix: str) -> dict[int, str]:
    """{c: column of metric per_class(prefix, c)} for the classes logged, in class order."""
    labels = {name: schema.class_of(prefix, name.removeprefix(METRICS)) for name in runs.columns
              if name.startswith(METRICS)}
    return dict(sorted((label, name) for name, label in labels.items() if label is not None))


def load_stragglers(tracker: Tracker, runs: pd.DataFrame, parent: str) -> Stragglers | None:
    """The finished, non-diverged seeds of one `hardness run` (None without any): per-class metrics and radii tables."""
    seeds = finished(children_of(runs, parent))
    seeds = seeds[column(seeds, tag(schema.DIVERGED)).astype(str) != "true"]
    if seeds.empty:
        return None
    curves = []
    for seed, child in enumerate(seeds["run_id"]):
        wide = load_table(tracker, child, schema.RADII_TABLE)
        if wide is None:  # an older or partial run: its metrics still count
            continue
        long = wide.melt(id_vars="epoch", var_name="class", value_name="radius").dropna()
        # radii.csv columns are class_<c> (hardness.studies.common.tables.build_radii_table)
        curves.append(long.assign(seed=seed, **{"class": long["class"].str.removeprefix("class_").astype(int)}))
    row = runs[runs["run_id"] == parent]
    warmup = pd.to_numeric(column(row, param(schema.WARMUP_CONFIG)), errors="coerce").dropna()
    dataset = first(row, tag(schema.DATASET))
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["seed", "epoch", "class", "radius"])
    return Stragglers(seed_classes(seeds), curves, dataset if isinstance(dataset, str) else None,
                      int(warmup.iloc[0]) if len(warmup) else None)


# --- imbalance grids and benchmarks -------------------------------------------------------------------

@dataclass(frozen=True)
class Grid:
    """One imbalance grid read back: its cells (cells_from_runs), the identifier and the side reduced."""

    cells: pd.DataFrame
    identifier: str
    reduce: str


@dataclass(frozen=True)
class Benchmark:
    """One benchmark read back: its tables (None when not logged) and the overlap matrices by measure."""

    gaps: pd.DataFrame | None
    headline: pd.DataFrame | None
    class_counts: pd.DataFrame | None
    matrices: dict[str, pd.DataFrame]
    """measure -> matrix indexed by identifier (row A, column B)"""
    reduce: str


def cells_from_runs(cell_runs: pd.DataFrame) -> pd.DataFrame:
    """Imbalance cell runs -> one row per cell: identifier, hard_set, train_ratio, remaining, then each metric
    (mean over initialisations; the spreads are left out)."""
    identifier = column(cell_runs, param(schema.IDENTIFIER_PARAM)).fillna(column(cell_runs, tag(schema.IDENTIFIER)))
    frame = pd.DataFrame({
        "identifier": identifier,
        **{key: pd.to_numeric(column(cell_runs, param(key)), errors="coerce") for key in CELL_KEYS},
    })
    metrics = [c for c in cell_runs.columns if c.startswith(METRICS) and not c.endswith(schema.STD_SUFFIX)]
    frame = pd.concat([frame, cell_runs[metrics].rename(columns=lambda c: c.removeprefix(METRICS))], axis=1)
    return frame.sort_values(["identifier", *CELL_KEYS]).reset_index(drop=True)


def _cell_runs(runs: pd.DataFrame, parents: set[str]) -> pd.DataFrame:
    """The finished cell runs (tagged CELL) whose parent is one of `parents`, the newest run of each cell only: a cell
    logged twice (two resumes racing, before they were refused) is one measurement, not two independent ones."""
    under = finished(runs[column(runs, tag(schema.PARENT_RUN_ID)).isin(parents)])
    cells = under[column(under, tag(schema.CELL)).notna()]
    return cells.drop_duplicates(subset=[tag(schema.PARENT_RUN_ID), tag(schema.CELL)], keep="last")  # oldest first


def count_duplicate_cells(runs: pd.DataFrame, parent: str) -> int:
    """How many finished cell runs of grid `parent` repeat a cell already logged (left out by `_cell_runs`)."""
    under = finished(runs[column(runs, tag(schema.PARENT_RUN_ID)) == parent])
    return int(column(under, tag(schema.CELL)).dropna().duplicated().sum())


def load_grid(runs: pd.DataFrame, parent: str) -> Grid:
    """The finished cells of one imbalance grid run."""
    cell_runs = _cell_runs(runs, {parent})
    cells = cells_from_runs(cell_runs)
    return Grid(cells, str(first(cells, "identifier", "?")),
                str(first(cell_runs, param(schema.REDUCE_PARAM), DEFAULT_REDUCE)))


def load_benchmark(tracker: Tracker, runs: pd.DataFrame, parent: str) -> Benchmark:
    """A benchmark's tables; without gaps.csv (it did not get to log it) the gaps are rebuilt from its grids' cells."""
    gaps = load_table(tracker, parent, schema.GAPS)
    if gaps is None:
        cell_runs = _cell_runs(runs, set(children_of(runs, parent)["run_id"]))
        gaps = cells_from_runs(cell_runs) if len(cell_runs) else None
    if gaps is not None and schema.HARD_SET_PARAM not in gaps:
        gaps = gaps.assign(**{schema.HARD_SET_PARAM: 0})
    counts = load_table(tracker, parent, schema.CLASS_COUNTS)
    matrices = {measure: load_table(tracker, parent, schema.matrix_table(measure)) for measure in schema.MATRICES}
    reduce = first(runs[runs["run_id"] == parent], param(schema.REDUCE_CONFIG), DEFAULT_REDUCE)
    return Benchmark(None if gaps is None or gaps.empty else gaps, load_table(tracker, parent, schema.HEADLINE),
                     None if counts is None or counts.empty else counts,
                     {m: t.set_index("identifier") for m, t in matrices.items() if t is not None and "identifier" in t},
                     str(reduce))


# --- searches ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Search:
    """One search study read back: a row per trial and each objective's direction (True: maximised)."""

    trials: pd.DataFrame
    """[trial, run_id, complete, <objective metrics>..., hard_fraction, <trial params>...]"""
    objectives: dict[str, bool]


def load_search(runs: pd.DataFrame, parent: str) -> Search | None:
    """The trials of one search study; None without trials or objective metrics."""
    children = children_of(runs, parent)
    prefix = metric(schema.objective_metric(""))  # every objective's metric starts so: metrics.objective/
    objectives = [c.removeprefix(METRICS) for c in children.columns if c.startswith(prefix)]
    if children.empty or not objectives:
        return None
    pruned = column(children, tag(schema.PRUNED)).astype(str).str.lower() == "true"
    trials = pd.DataFrame({"trial": _trial_numbers(children), "run_id": children["run_id"],
                           "complete": (children["status"] == "FINISHED") & ~pruned})
    for name in [*objectives, schema.HARD_FRACTION]:
        trials[name] = pd.to_numeric(column(children, metric(name)), errors="coerce")
    params = children[[c for c in children.columns if c.startswith(PARAMS)]].dropna(axis=1, how="all")
    trials = pd.concat([trials, params.rename(columns=lambda c: c.removeprefix(PARAMS))], axis=1)
    direction = first(runs[runs["run_id"] == parent], tag(schema.STUDY_DIRECTION))
    return Search(trials, dict(zip(objectives, _directions(direction, len(objectives)))))


def _trial_numbers(children: pd.DataFrame) -> pd.Series:
    """Optuna's trial numbers (tag TRIAL_NUMBER), else the order the runs started in."""
    numbers = pd.to_numeric(column(children, tag(schema.TRIAL_NUMBER)), errors="coerce")
    if numbers.notna().all():
        return numbers.astype(int)
    return children["start_time"].rank(method="first").astype(int) - 1


def _directions(direction: object, count: int) -> list[bool]:
    """maximize (True) / minimize per objective from the study's direction tag, e.g. 'maximize' or
    'maximize,minimize'; maximize when it is missing."""
    words = re.findall(r"max|min", direction.lower()) if isinstance(direction, str) else []
    return [w == "max" for w in (words * count)[:count]] if words else [True] * count


# --- detection benchmarks ---------------------------------------------------------------------------

def load_detection(tracker: Tracker, runs: pd.DataFrame, parent: str) -> pd.DataFrame | None:
    """A detect run's long detection table (None without rows); without its own (it did not get to log it) the
    finished units' tables are joined."""
    table = load_table(tracker, parent, schema.DETECTION)
    if table is None:
        units = finished(children_of(runs, parent))
        units = units[column(units, tag(schema.DETECT_UNIT)).notna()]
        found = [load_table(tracker, run_id, schema.DETECTION) for run_id in units["run_id"]]
        found = [frame for frame in found if frame is not None]
        table = pd.concat(found, ignore_index=True) if found else None
    return None if table is None or table.empty else table


# --- galleries (`hardness run`, identify) -------------------------------------------------------------

def load_gallery(tracker: Tracker, run_id: str) -> pd.DataFrame | None:
    """A run's hardest samples per class (schema.GALLERY; pixel columns for images), None when it logged none."""
    gallery = load_table(tracker, run_id, schema.GALLERY)
    return None if gallery is None or gallery.empty else gallery
