"""`hardness report`: read tracked runs, write figures and tables section by section, log a report run.

Sections, in order: the runs read; per `hardness run` the radius curves and per-class inversion / straggler
statistics; per imbalance grid the metrics against the fraction kept; per benchmark the identifiers side by
side, the gap with paired tests, hard counts per class and overlap matrices; per search the trial history; per
detection benchmark the AUROC heatmaps (identifier x injection type, over rates and per rate); per `hardness run`
and `identify` the gallery of the hardest samples per class (images, or a table for tabular data).
Figures go to OUT/figures as PNG and PDF, tables to OUT/tables as CSV and Markdown, an index to OUT/report.md;
the same files become artifacts of a run of kind `report`, logged beside the newest run the report read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hardness.studies.common.destinations import check_output_folder
from hardness.studies.report import aggregate, figures, load
from hardness.studies.report.files import ReportFile, Writer
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker, tracking_tags

if TYPE_CHECKING:  # hardness.engine.progress imports the engine (torch), which the report never needs
    from hardness.engine.progress import Progress

OVERLAP_TITLES = {"overlap": "overlap |A ∩ B| / |A|", "jaccard": "Jaccard |A ∩ B| / |A ∪ B|"}


@dataclass(frozen=True)
class ReportSummary:
    """What `hardness report` wrote and where: the report run, the files, how many runs each section read."""

    report_run_id: str
    experiment: str
    tracking_uri: str
    out: Path
    files: list[ReportFile]
    sources: dict[str, int]
    notes: list[str]
    """What the reader should know about the data read (left-out duplicates, ...), also in report.md."""

    def table(self) -> pd.DataFrame:
        """One row per item written: file stem, formats, what it shows."""
        return pd.DataFrame({"file": [f"{f.folder}/{f.stem}" for f in self.files],
                             "formats": [", ".join(p.suffix[1:] for p in f.paths) for f in self.files],
                             "shows": [f.description for f in self.files], "from run": [f.source for f in self.files]})

    def to_dict(self) -> dict:
        return {"report_run_id": self.report_run_id, "experiment": self.experiment, "tracking_uri": self.tracking_uri,
                "out": str(self.out), "sources": self.sources, "notes": self.notes,
                "files": [{"kind": f.kind, "description": f.description, "source": f.source,
                           "paths": [str(p) for p in f.paths]}
                          for f in self.files]}


def run_report(*, tracking_uri: str | None = None, experiments: Sequence[str] = (), run_ids: Sequence[str] = (),
               out: Path = Path("reports"), progress: Progress | None = None) -> ReportSummary:
    """Report on the runs of `experiments` (all when empty), or only `run_ids` and their descendants."""
    check_output_folder(Path(out), "--out")
    tracker = Tracker(tracking_uri, experiments[0] if experiments else "Default", must_exist=True)
    runs, chosen = load.load_runs(tracker, experiments, run_ids)
    writer = Writer(Path(out))
    with load.quiet_downloads():
        sources = _write_sections(tracker, runs, writer, progress)
    home = runs["experiment"].iloc[-1]
    writer.index(f"hardness report: {', '.join(dict.fromkeys(runs['experiment']))}")
    run_id = _log_report(Tracker(tracker.uri, home), writer, chosen, run_ids, sources)
    return ReportSummary(run_id, home, tracker.uri, Path(out), writer.files, sources, writer.notes)


def _write_sections(tracker: Tracker, runs: pd.DataFrame, writer: Writer, progress: Progress | None) -> dict[str, int]:
    """Every section the runs support, in order: runs read, stragglers, grids, benchmarks, searches."""
    sources = load.find_sources(runs)
    jobs = [*((_stragglers, r) for r in sources.stragglers), *((_grid, r) for r in sources.grids),
            *((_benchmark, r) for r in sources.benchmarks), *((_search, r) for r in sources.searches),
            *((_detect, r) for r in sources.detections), *((_identify, r) for r in sources.identifications)]
    writer.section("Runs read")
    writer.table(load.list_runs(runs), "runs", "Runs the report read")
    for done, (job, run_id) in enumerate(jobs):
        if progress:
            progress(done, len(jobs), run_id[:8])
        stem, title = load.run_title(runs, run_id)
        job(tracker, runs, run_id, writer, stem, title)
    if progress:
        progress(len(jobs), len(jobs), "done")
    return sources.counts()


def _stragglers(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """Radii curves and per-class inversion / straggler statistics across the seeds of one `hardness run`."""
    writer.section(f"Stragglers: {title}", title)
    seeds = load.load_stragglers(tracker, runs, parent)
    if seeds is None:
        return
    classes = aggregate.summarise_classes(seeds.per_seed)
    label = f"{seeds.dataset}, " if seeds.dataset else ""
    if not seeds.curves.empty:
        summary = aggregate.summarise_curves(seeds.curves)
        n_seeds = seeds.curves["seed"].nunique()
        figure = figures.plot_radii(summary, classes, warmup=seeds.warmup,
                                    title=f"Class radii over training ({label}{n_seeds} seeds, mean ± std)")
        writer.figure(figure, f"radii-{stem}", "Radius of each class over epochs, inversion epochs marked")
        writer.table(summary, f"radii-{stem}", "Radius per class and epoch across seeds", markdown=False)
    if not classes.empty:
        n_seeds = seeds.per_seed["seed"].nunique()
        figure = figures.plot_class_stragglers(
            seeds.per_seed, title=f"Stragglers and inversion epochs per class ({label}{n_seeds} seeds)")
        writer.figure(figure, f"classes-{stem}", "Stragglers and inversion epoch per class")
        writer.table(classes, f"classes-{stem}", "Inversion epoch and stragglers per class across seeds",
                     display=aggregate.display_classes(classes))
    _gallery(tracker, parent, writer, stem, f"Hardest stragglers per class: {title}")


def _identify(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """The hardest samples per class of one `hardness identify` run."""
    writer.section(f"Identification: {title}", title)
    _gallery(tracker, parent, writer, stem, f"Hardest samples per class: {title}")


def _gallery(tracker: Tracker, parent: str, writer: Writer, stem: str, title: str) -> None:
    """The run's hardest samples per class: an image grid (PNG + PDF) for images, and always their table."""
    gallery = load.load_gallery(tracker, parent)
    if gallery is None:
        return
    if "image_shape" in gallery:
        writer.figure(figures.plot_gallery(gallery, title=title), f"gallery-{stem}",
                      "Hardest samples per class (original index, share of seeds flagging it, mean score)")
    shown = gallery[[c for c in gallery.columns if not c.startswith("pixel_") and c != "image_shape"]]
    writer.table(shown, f"gallery-{stem}", "Hardest samples per class (rank 0 = hardest: most seeds agree, then "
                 "highest mean score)")


def _grid(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """Accuracy and precision / recall / F1 against the fraction kept for one imbalance grid."""
    grid = load.load_grid(runs, parent)
    name, reduce = grid.identifier, grid.reduce
    summary = aggregate.summarise_grid(grid.cells)
    writer.section(f"Imbalance grid: {name}, {title}", title)
    duplicates = load.count_duplicate_cells(runs, parent)
    if duplicates:
        writer.note(f"run {parent}: {duplicates} cell runs repeat a cell already logged (resumes that ran at once); "
                    f"only the newest run of each cell is counted")
    if _has(summary, [aggregate.ACC], aggregate.ALL):
        writer.figure(figures.plot_grid(summary, measures=[aggregate.ACC], reduce=reduce,
                                        title=f"Accuracy against training data kept ({name}, reduce {reduce})"),
                      f"imbalance-acc-{stem}", f"Accuracy on all / hard / easy test samples ({name})")
    if _has(summary, aggregate.PRF, aggregate.ALL):
        writer.figure(figures.plot_grid(summary, measures=aggregate.PRF, reduce=reduce,
                                        title=f"Precision, recall and F1 against training data kept ({name})"),
                      f"imbalance-prf-{stem}", f"Precision / recall / F1 on all / hard / easy test samples ({name})")
    shown = [*(schema.part_metric(aggregate.ACC, part) for part in schema.TEST_PARTS), aggregate.GAP]
    writer.table(summary, f"imbalance-{stem}", f"Imbalance grid across hard sets ({name})",
                 display=aggregate.mean_std_columns(summary, [m for m in shown if f"{m}_mean" in summary],
                                                    [*aggregate.GRID_KEYS, "n"]))


def _has(summary: pd.DataFrame, measures: Sequence[str], part: str) -> bool:
    """Whether any of `measures` on `part` of the test set was summarised."""
    return any(f"{schema.part_metric(m, part)}_mean" in summary for m in measures)


def _benchmark(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """Identifiers side by side, the gap with paired tests, hard counts per class and the overlap matrices."""
    writer.section(f"Benchmark: {title}", title)
    bench = load.load_benchmark(tracker, runs, parent)
    if bench.gaps is not None:
        _identifiers(bench, writer, stem)
    if bench.class_counts is not None:
        counts = aggregate.order_class_counts(bench.class_counts)
        writer.figure(figures.plot_class_counts(counts, title="Hard samples per class and class error rate"),
                      f"class-counts-{stem}", "Hard samples per class per identifier beside class error rates")
        writer.table(counts, f"class-counts-{stem}", "Hard samples per class (mean over hard sets) and class error rate")
    if bench.matrices:
        writer.figure(figures.plot_overlap({OVERLAP_TITLES[k]: v for k, v in bench.matrices.items()},
                                           title="Agreement between identifiers (row A, column B; mean over paired seeds)"),
                      f"overlap-{stem}", "Overlap and Jaccard matrices between identifiers")
        for measure, matrix in bench.matrices.items():
            writer.table(matrix.reset_index(), f"{measure}-{stem}", f"{OVERLAP_TITLES[measure]} (row A, column B)")


def _identifiers(bench: load.Benchmark, writer: Writer, stem: str) -> None:
    """The benchmark's gap table: hard / easy curves per identifier, and the gap compared with paired t-tests."""
    gaps = bench.gaps
    summary = aggregate.summarise_grid(gaps, by=["identifier"])
    order = aggregate.baseline_first(gaps["identifier"])
    summary = summary.sort_values("identifier", key=lambda s: s.map(order.index), kind="stable")
    writer.figure(figures.plot_identifiers(summary, measures=[aggregate.ACC], reduce=bench.reduce,
                                           title="Hard and easy test accuracy by identifier"),
                  f"identifiers-acc-{stem}", "Accuracy on hard and easy test samples, identifiers side by side")
    if _has(summary, aggregate.PRF, aggregate.HARD):
        writer.figure(figures.plot_identifiers(summary, measures=aggregate.PRF, reduce=bench.reduce,
                                               title="Hard and easy test precision, recall and F1 by identifier"),
                      f"identifiers-prf-{stem}", "Precision / recall / F1 on hard and easy test samples by identifier")
    if aggregate.GAP not in gaps:
        return
    comparison, pairs, baseline = aggregate.build_comparison(gaps, bench.headline)
    writer.figure(figures.plot_gaps(comparison, baseline=baseline, title="Easy-minus-hard accuracy gap by identifier"),
                  f"gap-{stem}", "Easy-minus-hard accuracy gap per identifier with paired tests")
    writer.table(comparison, f"comparison-{stem}", f"Identifiers compared (paired t-tests against {baseline})",
                 display=aggregate.display_comparison(comparison, baseline))
    writer.table(pairs, f"significance-{stem}", "Paired t-tests of the gap between every pair of identifiers")


def _search(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """Objective value over trials (best so far) for one search study."""
    writer.section(f"Search: {title}", title)
    search = load.load_search(runs, parent)
    if search is None:
        return
    first, maximize = next(iter(search.objectives.items()))
    history = aggregate.summarise_search(search.trials, first, maximize=maximize)
    writer.figure(figures.plot_search(search.trials, search.objectives, title=f"Search history: {title}"),
                  f"search-{stem}", "Objective per trial and best so far")
    writer.table(history, f"trials-{stem}", "Search trials")


def _detect(tracker: Tracker, runs: pd.DataFrame, parent: str, writer: Writer, stem: str, title: str) -> None:
    """How well each identifier finds each injected type: AUROC heatmaps over rates and per rate, CIs across seeds."""
    writer.section(f"Detection: {title}", title)
    detection = load.load_detection(tracker, runs, parent)
    if detection is None:
        return
    summary = aggregate.summarise_detection(detection)
    overall = summary[summary["rates"] == aggregate.ALL_RATES]
    writer.figure(figures.plot_detection(overall, title=f"Detection of injected samples: {title}"),
                  f"detection-{stem}", "AUROC per identifier and injection type, mean over rates (95% CI over seeds)")
    if summary["rates"].nunique() > 2:  # one rate besides "all" repeats the same numbers
        writer.figure(figures.plot_detection(summary[summary["rates"] != aggregate.ALL_RATES],
                                             title=f"Detection of injected samples per rate: {title}"),
                      f"detection-rates-{stem}", "AUROC per identifier and injection type at each rate")
    writer.table(summary, f"detection-{stem}", "Detection AUROC across seeds (mean over rates, then per rate; "
                 "auroc_ensemble: the ensemble of the seeds)", display=aggregate.display_detection(overall))


def _log_report(tracker: Tracker, writer: Writer, experiments: list[str], run_ids: Sequence[str],
                sources: dict[str, int]) -> str:
    """A run of kind `report` holding every file written, under figures/ and tables/, and report.md."""
    params = {"experiments": ",".join(experiments), "run_ids": ",".join(run_ids) or "all", "out": str(writer.out.resolve())}
    tags = {**tracking_tags(), schema.KIND: str(schema.Kind.REPORT)}
    with tracker.run(str(schema.Kind.REPORT), params=params, tags=tags) as run_id:
        for item in writer.files:
            for path in item.paths:
                tracker.log_file(run_id, path, item.folder)
        tracker.log_file(run_id, writer.out / schema.REPORT_INDEX)
        tracker.log_metrics(run_id, {schema.source_count(k): float(v) for k, v in sources.items()})
    return run_id
