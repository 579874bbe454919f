"""`hardness report`: pull tracked runs into pandas, build figures and tables, write them, log a report run.

Read through Tracker: stragglers runs (a parent, one child per seed with radii.csv and per-class inversion and
straggler metrics), imbalance cells (child runs tagged hardness.cell, grouped by their grid run), benchmark
runs (gaps.csv, headline.csv, class_counts.csv, overlap and Jaccard matrices) and search studies (one child
run per trial with objective metrics). Figures go to OUT/figures as PNG and PDF, tables to OUT/tables as CSV
and Markdown, an index to OUT/report.md; the same files become artifacts of a run tagged hardness.kind=report,
logged beside the newest run the report read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hardness import report
from hardness.errors import HardnessError
from hardness.report import column
from hardness.tracking import Tracker, tracking_tags

SOURCE_KINDS = ("stragglers", "imbalance", "benchmark", "search")
Progress = Callable[[int, int, str], None]  # as in hardness.identifiers.base, without importing torch
BASELINE = "stragglers"
OVERLAP_TITLES = {"overlap": "overlap |A ∩ B| / |A|", "jaccard": "Jaccard |A ∩ B| / |A ∪ B|"}


@dataclass(frozen=True)
class ReportFile:
    """One figure (PNG + PDF) or table (CSV, usually + Markdown) the report wrote."""

    stem: str
    kind: str
    description: str
    source: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class ReportSummary:
    report_run_id: str
    experiment: str
    tracking_uri: str
    out: Path
    files: list[ReportFile]
    sources: dict[str, int]

    def table(self) -> pd.DataFrame:
        """One row per item written: file stem, formats, what it shows."""
        return pd.DataFrame({"file": [f"{f.kind}s/{f.stem}" for f in self.files],
                             "formats": [", ".join(p.suffix[1:] for p in f.paths) for f in self.files],
                             "shows": [f.description for f in self.files], "from run": [f.source for f in self.files]})

    def to_dict(self) -> dict:
        return {"report_run_id": self.report_run_id, "experiment": self.experiment, "tracking_uri": self.tracking_uri,
                "out": str(self.out), "sources": self.sources,
                "files": [{"kind": f.kind, "description": f.description, "source": f.source,
                           "paths": [str(p) for p in f.paths]}
                          for f in self.files]}


class _Writer:
    """Writes figures and tables under `out` and collects them, section by section, for report.md."""

    def __init__(self, out: Path):
        self.out = out
        self.files: list[ReportFile] = []
        self.sections: list[tuple[str, list[str]]] = []
        self.source = ""

    def section(self, heading: str, source: str = "") -> None:
        self.sections.append((heading, []))
        self.source = source

    def figure(self, figure, stem: str, description: str) -> None:
        folder = self.out / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        paths = (folder / f"{stem}.png", folder / f"{stem}.pdf")
        figure.savefig(paths[0], dpi=200)
        figure.savefig(paths[1], metadata={"CreationDate": None})  # same data, same bytes
        self.files.append(ReportFile(stem, "figure", description, self.source, paths))
        self.sections[-1][1].append(f"**{description}**\n\n![{description}](figures/{stem}.png)\n")

    def table(self, frame: pd.DataFrame, stem: str, description: str, *, display: pd.DataFrame | None = None,
              markdown: bool = True) -> None:
        """CSV always (all numbers); Markdown of `display` (or the frame) unless it is a long curve table."""
        folder = self.out / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{stem}.csv"]
        frame.to_csv(paths[0], index=False)
        if markdown:
            text = report.to_markdown(frame if display is None else display)
            paths.append(folder / f"{stem}.md")
            paths[1].write_text(text)
            self.sections[-1][1].append(f"**{description}** ([csv](tables/{stem}.csv))\n\n{text}")
        else:
            self.sections[-1][1].append(f"**{description}**: [tables/{stem}.csv](tables/{stem}.csv) ({len(frame)} rows)\n")
        self.files.append(ReportFile(stem, "table", description, self.source, tuple(paths)))

    def index(self, title: str) -> Path:
        lines = [f"# {title}\n", "Error bars and bands: ± 1 standard deviation (ddof=1) across seeds or hard sets; "
                 "`ci_low`/`ci_high` columns: Student-t 95% confidence interval of the mean.\n"]
        for heading, parts in self.sections:
            if parts:
                lines += [f"## {heading}\n", *parts]
        path = self.out / "report.md"
        path.write_text("\n".join(lines))
        return path


def run_report(*, tracking_uri: str | None = None, experiments: Sequence[str] = (), run_ids: Sequence[str] = (),
               out: Path = Path("reports"), progress: Progress | None = None) -> ReportSummary:
    """Report on the runs of `experiments` (all when empty), or only `run_ids` and their descendants."""
    tracker = Tracker(tracking_uri, experiments[0] if experiments else "Default", must_exist=True)
    names = _experiment_names(tracker)
    for name in experiments:
        if name not in names.values():
            raise HardnessError(f"experiment {name!r} not found in {tracker.uri}")
    chosen = list(experiments) or list(names.values())
    try:
        runs = report.select_runs(tracker.find_runs(experiment_names=chosen), list(run_ids) or None)
    except KeyError as error:
        raise HardnessError(f"run(s) {error.args[0]} not found in experiment(s) {', '.join(chosen)} "
                            f"of {tracker.uri}") from None
    # runs of the kinds reported on, with their descendants (search trials may carry no kind tag)
    runs = report.select_runs(runs, runs.loc[column(runs, "tags.hardness.kind").isin(SOURCE_KINDS), "run_id"].tolist())
    if runs.empty:
        raise HardnessError(f"no runs of hardness run / imbalance / benchmark / search found in experiment(s) "
                            f"{', '.join(chosen)} of {tracker.uri}")
    runs = runs.sort_values("start_time", kind="stable").reset_index(drop=True)
    runs.insert(2, "experiment", runs["experiment_id"].astype(str).map(names))
    writer = _Writer(Path(out))
    with _quiet_downloads():
        sources = _write_sections(tracker, runs, writer, progress)
    home = runs["experiment"].iloc[-1]
    writer.index(f"hardness report: {', '.join(dict.fromkeys(runs['experiment']))}")
    run_id = _log_report(Tracker(tracker.uri, home), writer, chosen, run_ids, sources)
    return ReportSummary(run_id, home, tracker.uri, Path(out), writer.files, sources)


@contextmanager
def _quiet_downloads() -> Iterator[None]:
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


def _experiment_names(tracker: Tracker) -> dict[str, str]:
    """{experiment id: name} of the store's active experiments."""
    return {e.experiment_id: e.name for e in tracker.client.search_experiments()}


def _slug(runs: pd.DataFrame, run_id: str) -> tuple[str, str]:
    """(file-name suffix, human title) for a run: the first 8 characters of its id, and its name with them."""
    names = column(runs[runs["run_id"] == run_id], "tags.mlflow.runName").dropna()
    return run_id[:8], f"{names.iloc[0] if len(names) else 'run'} ({run_id[:8]})"


def _finished(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "FINISHED"]


def _write_sections(tracker: Tracker, runs: pd.DataFrame, writer: _Writer, progress: Progress | None) -> dict[str, int]:
    """Every section the runs support, in order: sources, stragglers, grids, benchmarks, searches."""
    kinds, parents = column(runs, "tags.hardness.kind"), column(runs, "tags.mlflow.parentRunId")
    ids_of = lambda kind: set(runs.loc[kinds == kind, "run_id"])  # noqa: E731
    stragglers = runs[(kinds == "stragglers") & ~parents.isin(ids_of("stragglers"))]["run_id"].tolist()
    is_cell = column(runs, "tags.hardness.cell").notna()
    grids = list(dict.fromkeys(parents[is_cell & (runs["status"] == "FINISHED")]))
    benchmarks = runs.loc[kinds == "benchmark", "run_id"].tolist()
    searches = runs[(kinds == "search") & ~parents.isin(ids_of("search"))]["run_id"].tolist()
    jobs = [*((_stragglers, r) for r in stragglers), *((_grid, r) for r in grids),
            *((_benchmark, r) for r in benchmarks), *((_search, r) for r in searches)]
    writer.section("Runs read")
    listing = pd.DataFrame({"run_id": runs["run_id"], "experiment": runs["experiment"], "kind": kinds,
                            "name": column(runs, "tags.mlflow.runName"), "status": runs["status"],
                            "parent_run_id": parents})
    writer.table(listing, "runs", "Runs the report read")
    for done, (job, run_id) in enumerate(jobs):
        if progress:
            progress(done, len(jobs), run_id[:8])
        job(tracker, runs, run_id, writer)
    if progress:
        progress(len(jobs), len(jobs), "done")
    return {"stragglers": len(stragglers), "grids": len(grids), "benchmarks": len(benchmarks), "searches": len(searches)}


def _stragglers(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: _Writer) -> None:
    """Radii curves and per-class inversion / straggler statistics across the seeds of one `hardness run`."""
    stem, title = _slug(runs, parent)
    seeds = _finished(report.children_of(runs, parent))
    writer.section(f"Stragglers: {title}", title)
    if seeds.empty:
        return
    per_seed = report.seed_classes(seeds)
    classes = report.summarise_classes(per_seed)
    curves = []
    for seed, child in enumerate(seeds["run_id"]):
        try:
            wide = tracker.load_table(child, "radii.csv")
        except HardnessError:  # an older or partial run: its metrics still count
            continue
        long = wide.melt(id_vars="epoch", var_name="class", value_name="radius").dropna()
        curves.append(long.assign(seed=seed, **{"class": long["class"].str.removeprefix("class_").astype(int)}))
    row = runs[runs["run_id"] == parent]
    dataset = column(row, "tags.hardness.dataset").iloc[0] if len(row) else None
    label = f"{dataset}, " if isinstance(dataset, str) else ""
    if curves:
        summary = report.summarise_curves(pd.concat(curves, ignore_index=True))
        warmup = pd.to_numeric(column(row, "params.inversion.warmup"), errors="coerce").dropna()
        figure = report.plot_radii(summary, classes, warmup=int(warmup.iloc[0]) if len(warmup) else None,
                                   title=f"Class radii over training ({label}{len(curves)} seeds, mean ± std)")
        writer.figure(figure, f"radii-{stem}", "Radius of each class over epochs, inversion epochs marked")
        writer.table(summary, f"radii-{stem}", "Radius per class and epoch across seeds", markdown=False)
    if not classes.empty:
        writer.figure(report.plot_class_stragglers(per_seed, title=f"Stragglers and inversion epochs per class ({label}"
                                                                  f"{len(seeds)} seeds)"),
                      f"classes-{stem}", "Stragglers and inversion epoch per class")
        display = report.mean_std_columns(classes, ["inversion_epoch", "stragglers"], ["class", "n_models", "n_inverted"])
        for value in ("inversion_epoch", "stragglers"):
            display[f"{value} 95% CI"] = [f"[{report.format_number(lo)}, {report.format_number(hi)}]"
                                          for lo, hi in zip(classes[f"{value}_ci_low"], classes[f"{value}_ci_high"])]
        writer.table(classes, f"classes-{stem}", "Inversion epoch and stragglers per class across seeds", display=display)


def _grid(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: _Writer) -> None:
    """Accuracy and precision / recall / F1 against the fraction kept for one imbalance grid."""
    stem, title = _slug(runs, parent)
    cell_runs = _finished(report.children_of(runs, parent))
    cell_runs = cell_runs[column(cell_runs, "tags.hardness.cell").notna()]
    cells = report.cells_from_runs(cell_runs)
    identifier = cells["identifier"].dropna().iloc[0] if cells["identifier"].notna().any() else "?"
    reduce = column(cell_runs, "params.reduce").dropna()
    reduce = str(reduce.iloc[0]) if len(reduce) else "easy"
    summary = report.summarise_grid(cells, report.grid_metrics(cells))
    writer.section(f"Imbalance grid: {identifier}, {title}", title)
    if "acc/all_mean" in summary:
        writer.figure(report.plot_grid(summary, measures=["acc"], reduce=reduce,
                                       title=f"Accuracy against training data kept ({identifier}, reduce {reduce})"),
                      f"imbalance-acc-{stem}", f"Accuracy on all / hard / easy test samples ({identifier})")
    if any(f"{m}/all_mean" in summary for m in report.PRF):
        writer.figure(report.plot_grid(summary, measures=report.PRF, reduce=reduce,
                                       title=f"Precision, recall and F1 against training data kept ({identifier})"),
                      f"imbalance-prf-{stem}", f"Precision / recall / F1 on all / hard / easy test samples ({identifier})")
    shown = [m for m in ("acc/all", "acc/hard", "acc/easy", "gap/acc") if f"{m}_mean" in summary]
    writer.table(summary, f"imbalance-{stem}", f"Imbalance grid across hard sets ({identifier})",
                 display=report.mean_std_columns(summary, shown, [*report.GRID_KEYS, "n"]))


def _benchmark(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: _Writer) -> None:
    """Identifiers side by side, the gap with paired tests, hard counts per class and the overlap matrices."""
    stem, title = _slug(runs, parent)
    writer.section(f"Benchmark: {title}", title)
    tables = {name: _maybe_table(tracker, parent, f"{name}.csv")
              for name in ("gaps", "headline", "class_counts", "overlap_matrix", "jaccard_matrix")}
    gaps = tables["gaps"]
    if gaps is None:  # rebuild from the grids' cells when the benchmark did not get to log its tables
        grids = set(report.children_of(runs, parent)["run_id"])
        cell_runs = _finished(runs[column(runs, "tags.mlflow.parentRunId").isin(grids)])
        gaps = report.cells_from_runs(cell_runs[column(cell_runs, "tags.hardness.cell").notna()]) if len(cell_runs) else None
    if gaps is not None and not gaps.empty:
        if "hard_set" not in gaps:
            gaps = gaps.assign(hard_set=0)
        reduce = column(runs[runs["run_id"] == parent], "params.imbalance.reduce").dropna()
        reduce = str(reduce.iloc[0]) if len(reduce) else "easy"
        summary = report.summarise_grid(gaps, report.grid_metrics(gaps), by=["identifier"])
        order = _baseline_first(gaps["identifier"])
        summary = summary.sort_values("identifier", key=lambda s: s.map(order.index), kind="stable")
        writer.figure(report.plot_identifiers(summary, measures=["acc"], reduce=reduce,
                                              title="Hard and easy test accuracy by identifier"),
                      f"identifiers-acc-{stem}", "Accuracy on hard and easy test samples, identifiers side by side")
        if any(f"{m}/hard_mean" in summary for m in report.PRF):
            writer.figure(report.plot_identifiers(summary, measures=report.PRF, reduce=reduce,
                                                  title="Hard and easy test precision, recall and F1 by identifier"),
                          f"identifiers-prf-{stem}", "Precision / recall / F1 on hard and easy test samples by identifier")
        if "gap/acc" in gaps:
            comparison, pairs, baseline = report.build_comparison(gaps, tables["headline"])
            writer.figure(report.plot_gaps(comparison, metric="gap/acc", baseline=baseline,
                                           title="Easy-minus-hard accuracy gap by identifier"),
                          f"gap-{stem}", "Easy-minus-hard accuracy gap per identifier with paired tests")
            display = report.mean_std_columns(comparison, ["gap/acc"], ["identifier", "n_hard_sets"])
            display["gap 95% CI"] = [f"[{report.format_number(lo)}, {report.format_number(hi)}]"
                                     for lo, hi in zip(comparison["gap/acc_ci_low"], comparison["gap/acc_ci_high"])]
            rest = [c for c in comparison.columns if not c.startswith("gap/acc") and c not in display]
            display = pd.concat([display, comparison[rest]], axis=1).rename(
                columns={"diff_vs_baseline": f"gap − {baseline}", "p_cells": "p (cells)", "p_hard_sets": "p (hard sets)"})
            writer.table(comparison, f"comparison-{stem}", f"Identifiers compared (paired t-tests against {baseline})",
                         display=display)
            writer.table(pairs, f"significance-{stem}", "Paired t-tests of the gap between every pair of identifiers")
    counts = tables["class_counts"]
    if counts is not None and not counts.empty:
        names = _baseline_first([c for c in counts.columns if c not in ("class", "class_error")])
        counts = counts[[c for c in counts.columns if c not in names] + names]  # same colour per identifier
        writer.figure(report.plot_class_counts(counts, title="Hard samples per class and class error rate"),
                      f"class-counts-{stem}", "Hard samples per class per identifier beside class error rates")
        writer.table(counts, f"class-counts-{stem}", "Hard samples per class (mean over hard sets) and class error rate")
    matrices = {measure: tables[f"{measure}_matrix"].set_index("identifier") for measure in ("overlap", "jaccard")
                if tables[f"{measure}_matrix"] is not None and "identifier" in tables[f"{measure}_matrix"]}
    if matrices:
        writer.figure(report.plot_overlap({OVERLAP_TITLES[k]: v for k, v in matrices.items()},
                                          title="Agreement between identifiers (row A, column B; mean over paired seeds)"),
                      f"overlap-{stem}", "Overlap and Jaccard matrices between identifiers")
        for measure, matrix in matrices.items():
            writer.table(matrix.reset_index(), f"{measure}-{stem}", f"{OVERLAP_TITLES[measure]} (row A, column B)")


def _baseline_first(names) -> list[str]:
    """Identifiers in order of appearance, the stragglers baseline first: colours then match across figures."""
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda name: name != BASELINE)


def _maybe_table(tracker: Tracker, run_id: str, artifact: str) -> pd.DataFrame | None:
    try:
        return tracker.load_table(run_id, artifact)
    except HardnessError:
        return None


def _search(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: _Writer) -> None:
    """Objective value over trials (best so far) for one search study."""
    stem, title = _slug(runs, parent)
    writer.section(f"Search: {title}", title)
    children = report.children_of(runs, parent)
    objectives = [c.removeprefix("metrics.") for c in children.columns if c.startswith("metrics.objective")]
    if children.empty or not objectives:
        return
    trials = pd.DataFrame({"trial": _trial_numbers(children), "run_id": children["run_id"],
                           "complete": (children["status"] == "FINISHED") & ~_pruned(children)})
    for name in [*objectives, "hard_fraction"]:
        trials[name] = pd.to_numeric(column(children, f"metrics.{name}"), errors="coerce")
    params = children[[c for c in children.columns if c.startswith("params.")]].dropna(axis=1, how="all")
    trials = pd.concat([trials, params.rename(columns=lambda c: c.removeprefix("params."))], axis=1)
    directions = _directions(runs[runs["run_id"] == parent], len(objectives))
    history = report.summarise_search(trials, objectives[0], maximize=directions[0])
    figure = report.plot_search(trials, dict(zip(objectives, directions)), title=f"Search history: {title}")
    writer.figure(figure, f"search-{stem}", "Objective per trial and best so far")
    writer.table(history, f"trials-{stem}", "Search trials")


def _trial_numbers(children: pd.DataFrame) -> pd.Series:
    """Optuna's trial number from a tag or param naming 'trial', else the order the runs started in."""
    for name in children.columns:
        if name.startswith(("tags.", "params.")) and "trial" in name.lower():
            numbers = pd.to_numeric(children[name], errors="coerce")
            if numbers.notna().all():
                return numbers.astype(int)
    return children["start_time"].rank(method="first").astype(int) - 1


def _pruned(children: pd.DataFrame) -> pd.Series:
    flags = [children[c].astype(str).str.lower().isin(("true", "1", "pruned")) for c in children.columns
             if c.startswith("tags.") and "prune" in c.lower()]
    states = [children[c].astype(str).str.upper().isin(("PRUNED", "FAIL")) for c in children.columns
              if c.startswith("tags.") and c.lower().endswith("state")]
    found = pd.Series(False, index=children.index)
    for flag in flags + states:
        found |= flag
    return found


def _directions(parent: pd.DataFrame, count: int) -> list[bool]:
    """maximize (True) / minimize per objective from a parent param or tag naming 'direction'; maximize by default."""
    for name in parent.columns:
        if name.startswith(("params.", "tags.")) and "direction" in name.lower() and parent[name].notna().any():
            words = re.findall(r"max|min", str(parent[name].iloc[0]).lower())
            if words:
                return [w == "max" for w in (words * count)[:count]]
    return [True] * count


def _log_report(tracker: Tracker, writer: _Writer, experiments: list[str], run_ids: Sequence[str],
                sources: dict[str, int]) -> str:
    """A run tagged hardness.kind=report holding every file written, under figures/ and tables/."""
    params = {"experiments": ",".join(experiments), "run_ids": ",".join(run_ids) or "all", "out": str(writer.out.resolve())}
    with tracker.run("report", params=params, tags={**tracking_tags(), "hardness.kind": "report"}) as run_id:
        for item in writer.files:
            for path in item.paths:
                tracker.log_file(run_id, path, f"{item.kind}s")
        tracker.log_file(run_id, writer.out / "report.md")
        tracker.log_metrics(run_id, {f"sources/{k}": float(v) for k, v in sources.items()})
    return run_id
