"""The `hardness` command line: thin commands that parse options, call the library, print the result.

Heavy libraries (torch, mlflow) are imported inside the commands so `--help` and `--version` stay instant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hardness import __version__
from hardness.catalogue import DATASETS, DEVICES, IDENTIFIERS, INJECTION_TYPES, RECORDING, SOURCES
from hardness.errors import HardnessError, environment_problem
from hardness.tracking.heartbeat import STALE_AFTER_S

app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich",
                  help="Find the hard samples (stragglers) in a dataset and measure how they distort test accuracy.")

ConfigArgument = Annotated[Optional[Path], typer.Argument(help="YAML config (see configs/); defaults apply when omitted.")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override any config field: --set train.lr=0.05 (repeatable).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary instead of tables.")]


def _completion(names: tuple[str, ...], *, listed: bool = False):
    """Shell completion over `names`; with `listed`, for the last item of a comma-separated list."""
    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",") if listed else ("", "", incomplete)
        return [f"{head},{name}" if head else name for name in names if name.startswith(last)]
    return complete


DatasetOption = Annotated[Optional[str], typer.Option(help=f"Dataset: {' | '.join((*DATASETS, *SOURCES))} ("
                                                           f"{', '.join(SOURCES)} read your own data from --data-path).",
                                                      autocompletion=_completion((*DATASETS, *SOURCES)))]
DataPathOption = Annotated[Optional[Path], typer.Option(
    help=f"Your own data: the file or the image folder (with --dataset {'|'.join(SOURCES)}).")]
ThreadsOption = Annotated[Optional[int], typer.Option(min=1, help="torch's intra-op threads (default: the cores "
                                                                  "available to this process).")]
DeviceOption = Annotated[Optional[str], typer.Option(help="Where torch computes: auto (cuda when a CUDA GPU is there, "
                                                           "else cpu) | cpu | cuda.", autocompletion=_completion(DEVICES))]
SubsetOption = Annotated[Optional[int], typer.Option(help="Keep this many samples after the seeded shuffle.")]
SeedsOption = Annotated[Optional[int], typer.Option(help="Number of models (seeds) trained at once.")]
SeedOption = Annotated[Optional[int], typer.Option(help="Base seed: data shuffle and model initialisations.")]
EpochsOption = Annotated[Optional[int], typer.Option(help="Epoch budget.")]
DataRootOption = Annotated[Optional[Path], typer.Option(help="Folder holding <MNIST|FashionMNIST|KMNIST>/raw.")]
TrackingOption = Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or ./mlruns).")]
ExperimentOption = Annotated[Optional[str], typer.Option(help="MLflow experiment name.")]
IdentifierOption = Annotated[Optional[str], typer.Option(help=f"Identifier: {' | '.join(IDENTIFIERS)}.",
                                                         autocompletion=_completion(IDENTIFIERS))]


@contextmanager
def reported_errors(as_json: bool = False) -> Iterator[None]:
    """The one place faults become exit codes: a HardnessError gives one line on stderr (and, under --json, a JSON
    object {"error", "exit_code"} on stdout) and exits with its code; so do a full disk and a tracking server refusing
    the user (exit 3), wherever they strike; real bugs keep their traceback (exit 1)."""
    try:
        try:
            yield
        except HardnessError:
            raise
        except Exception as error:
            problem = environment_problem(error)
            if problem is None:
                raise
            raise problem from None
    except HardnessError as error:
        from hardness.console import print_error, print_json

        print_error(str(error))
        if as_json:
            print_json({"error": str(error), "exit_code": int(error.exit_code)})
        raise typer.Exit(int(error.exit_code)) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hardness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Find the hard samples (stragglers) in a dataset and measure how they distort test accuracy."""


OPTION_FIELDS = {"dataset": "data.name", "subset_size": "data.subset_size", "seeds": "seeds", "seed": "seed",
                 "epochs": "train.epochs", "data_root": "data.root", "data_path": "data.path",
                 "threads": "train.threads", "device": "train.device", "tracking_uri": "tracking.uri",
                 "experiment": "tracking.experiment", "identifier": "identifier.name",
                 "identifiers": "benchmark.identifiers", "hard_sets": "imbalance.hard_sets", "inits": "imbalance.inits",
                 "trials": "search.trials", "storage": "search.storage", "study_name": "search.study_name",
                 "types": "detect.types", "rates": "detect.rates",
                 "executor": "executor.kind", "scheduler": "executor.scheduler", "workers": "executor.workers",
                 "n_workers": "search.workers", "study_trials": "search.study_trials"}
LISTED_OPTIONS = ("identifiers", "types", "rates")
"""Options given as comma-separated lists."""


def _resolve(given: dict[str, Any], preset: Sequence[str] = (), **fields: str):
    """Load a command's config from its arguments `given` (its locals()): the `preset` overrides an option implies,
    then each option given on the command line overrides its field (OPTION_FIELDS, or `fields` where this command
    differs), then every --set (which wins)."""
    from hardness.config import load_config

    overrides = list(preset)
    for name, field in (OPTION_FIELDS | fields).items():
        value = given.get(name)
        if value is None:
            continue
        if name in LISTED_OPTIONS:
            value = [part.strip() for part in value.split(",") if part.strip()]
        overrides.append(f"{field}={json.dumps(str(value) if isinstance(value, Path) else value)}")
    return load_config(given["config"], [*overrides, *(given["set_"] or [])])


@app.command()
def run(config: ConfigArgument = None, dataset: DatasetOption = None, subset_size: SubsetOption = None,
        seeds: SeedsOption = None, seed: SeedOption = None, epochs: EpochsOption = None,
        data_root: DataRootOption = None, data_path: DataPathOption = None,
        threads: ThreadsOption = None, device: DeviceOption = None, tracking_uri: TrackingOption = None,
        experiment: ExperimentOption = None, set_: SetOption = None, as_json: JsonOption = False) -> None:
    """Train many seeds at once, track class radii, mark inversion points and collect stragglers."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.stragglers.run import run_stragglers

    with reported_errors(as_json):
        resolved = _resolve(locals())
        with progress_bar("training", enabled=not as_json) as progress:
            summary = run_stragglers(resolved, config_file=config, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    headers = {"class": "class", "class_name": "name", "inversion_epoch_mean": "inversion epoch",
               "inversion_epoch_std": "± std", "not_inverted": "not inverted", "stragglers_mean": "stragglers", "stragglers_std": "± std "}
    print_table(summary.per_class.rename(columns=headers), title=f"Inversion epochs and stragglers per class ({summary.dataset}, "
                                         f"{len(summary.child_run_ids)} seeds, {summary.n_samples} samples)")
    typer.echo(f"stragglers per seed: {summary.straggler_counts}")
    typer.echo(f"MLflow run {summary.parent_run_id} (experiment {summary.experiment!r}, {summary.tracking_uri})")


DynamicsOption = Annotated[Optional[Path], typer.Option(
    help="A hardness.Recorder recording (.npz) of your own training loop: score its samples from the recorded logits "
         "(threshold: quantile 0.9 unless --set threshold...).")]


@app.command()
def identify(config: ConfigArgument = None, identifier: IdentifierOption = None, dataset: DatasetOption = None,
             subset_size: SubsetOption = None, seeds: SeedsOption = None, seed: SeedOption = None,
             epochs: EpochsOption = None, data_root: DataRootOption = None, data_path: DataPathOption = None,
             threads: ThreadsOption = None, device: DeviceOption = None, tracking_uri: TrackingOption = None,
             experiment: ExperimentOption = None, dynamics: DynamicsOption = None, set_: SetOption = None,
             as_json: JsonOption = False) -> None:
    """Run one hard-sample identifier over several seeds; log scores, hard sets and counts per class. With
    --dynamics, read the logits a hardness.Recorder recorded in another training loop instead of training."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.identify.run import run_identify

    with reported_errors(as_json):
        recording = () if dynamics is None else (f"data.name={RECORDING}", f"data.path={json.dumps(str(dynamics))}",
                                                 "threshold.method=quantile")
        resolved = _resolve(locals(), preset=recording)
        with progress_bar(resolved.identifier.name, enabled=not as_json) as progress:
            summary = run_identify(resolved, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    print_table(summary.counts, title=f"Hard samples per class: {summary.identifier}")
    if not summary.noise.drop(columns="seed").empty:
        print_table(summary.noise, title="Flipped labels caught")
    typer.echo(f"MLflow run {summary.parent_run_id}")


class ExecutorKind(StrEnum):
    local = "local"
    dask = "dask"


ExecutorOption = Annotated[Optional[ExecutorKind], typer.Option(
    help="Where the work units run: local (this process, the default) or dask (a Dask cluster).")]
SchedulerOption = Annotated[Optional[str], typer.Option(
    help="Dask scheduler address (tcp://host:8786) or scheduler file, with --executor dask; without it a local "
         "cluster starts.")]
WorkersOption = Annotated[Optional[int], typer.Option(
    min=1, help="Worker processes of the local Dask cluster, one thread each (default: one per core).")]
HardSetsOption = Annotated[Optional[int], typer.Option(help="Independent identifications (hard sets).")]
InitsOption = Annotated[Optional[int], typer.Option(help="Initialisations per grid cell.")]


@app.command()
def imbalance(config: ConfigArgument = None, identifier: IdentifierOption = None, dataset: DatasetOption = None,
              subset_size: SubsetOption = None, hard_sets: HardSetsOption = None, inits: InitsOption = None,
              seed: SeedOption = None, epochs: EpochsOption = None, data_root: DataRootOption = None,
              data_path: DataPathOption = None, threads: ThreadsOption = None, device: DeviceOption = None,
              executor: ExecutorOption = None, scheduler: SchedulerOption = None, workers: WorkersOption = None,
              tracking_uri: TrackingOption = None, experiment: ExperimentOption = None, set_: SetOption = None,
              as_json: JsonOption = False) -> None:
    """In-class imbalance grid: train on fewer easy (or hard) samples, test on all / hard / easy. Resumable."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.imbalance.run import run_imbalance

    with reported_errors(as_json):
        resolved = _resolve(locals())
        with progress_bar("imbalance", enabled=not as_json) as progress:
            summary = run_imbalance(resolved, progress=progress)
    if as_json:
        print_json({"parent_run_id": summary.parent_run_id, "skipped_cells": summary.skipped,
                    "cells": summary.cells.to_dict(orient="records")})
        return
    print_table(summary.headline(), title=f"Accuracy by training fraction kept ({summary.identifier}, "
                                          f"reduce {resolved.imbalance.reduce}; mean over hard sets)")
    typer.echo(f"{len(summary.cells)} cells ({summary.skipped} already finished); MLflow run {summary.parent_run_id}")


IdentifiersOption = Annotated[Optional[str], typer.Option(
    help=f"Comma-separated identifiers to compare, from: {', '.join(IDENTIFIERS)}; or all.",
    autocompletion=_completion((*IDENTIFIERS, "all"), listed=True))]


@app.command()
def benchmark(config: ConfigArgument = None, identifiers: IdentifiersOption = None, dataset: DatasetOption = None,
              subset_size: SubsetOption = None, hard_sets: HardSetsOption = None, inits: InitsOption = None,
              seed: SeedOption = None, epochs: EpochsOption = None, data_root: DataRootOption = None,
              data_path: DataPathOption = None, threads: ThreadsOption = None, device: DeviceOption = None,
              executor: ExecutorOption = None, scheduler: SchedulerOption = None, workers: WorkersOption = None,
              tracking_uri: TrackingOption = None, experiment: ExperimentOption = None, set_: SetOption = None,
              as_json: JsonOption = False) -> None:
    """Compare identifiers on the same data and seeds through the imbalance grid (gap, overlap, stability)."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.benchmark.run import run_benchmark

    with reported_errors(as_json):
        resolved = _resolve(locals())
        with progress_bar("benchmark", enabled=not as_json) as progress:
            summary = run_benchmark(resolved, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    from hardness.studies.benchmark.compare import format_headline

    print_table(format_headline(summary.headline), title="Identifiers compared (mean over grid cells and hard sets)")
    typer.echo(f"MLflow run {summary.parent_run_id}")


DetectIdentifiersOption = Annotated[Optional[str], typer.Option(
    "--identifiers", help=f"Comma-separated identifiers that must find the injected samples, or all (the default), "
                          f"from: {', '.join(IDENTIFIERS)}.", autocompletion=_completion(IDENTIFIERS, listed=True))]
TypesOption = Annotated[Optional[str], typer.Option(
    help=f"Comma-separated injection types, from: {', '.join(INJECTION_TYPES)}.",
    autocompletion=_completion(INJECTION_TYPES, listed=True))]
RatesOption = Annotated[Optional[str], typer.Option(help="Comma-separated injection rates, e.g. 0.05,0.1,0.2.")]


@app.command()
def detect(config: ConfigArgument = None, identifiers: DetectIdentifiersOption = None, types: TypesOption = None,
           rates: RatesOption = None, dataset: DatasetOption = None, subset_size: SubsetOption = None,
           seeds: SeedsOption = None, seed: SeedOption = None, epochs: EpochsOption = None,
           data_root: DataRootOption = None, data_path: DataPathOption = None, threads: ThreadsOption = None,
           device: DeviceOption = None, executor: ExecutorOption = None, scheduler: SchedulerOption = None,
           workers: WorkersOption = None, tracking_uri: TrackingOption = None, experiment: ExperimentOption = None,
           set_: SetOption = None, as_json: JsonOption = False) -> None:
    """Inject label noise, atypical and out-of-distribution samples; score how well each identifier finds them."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.detect.run import run_detect

    with reported_errors(as_json):
        resolved = _resolve(locals(), identifiers="detect.identifiers")
        with progress_bar("detect", enabled=not as_json) as progress:
            summary = run_detect(resolved, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    print_table(summary.summary, title="Detection AUROC of the ensemble per injection type (mean over rates)")
    typer.echo(f"{summary.units} units ({summary.skipped} already finished); MLflow run {summary.parent_run_id}")


TargetPrecisionOption = Annotated[Optional[float], typer.Option(
    min=0.0, max=1.0, help="Precision each verdict's threshold aims for on the injected copies (default 0.9).")]


@app.command()
def diagnose(config: ConfigArgument = None, target_precision: TargetPrecisionOption = None,
             dataset: DatasetOption = None, subset_size: SubsetOption = None, seeds: SeedsOption = None,
             seed: SeedOption = None, epochs: EpochsOption = None, data_root: DataRootOption = None,
             data_path: DataPathOption = None, threads: ThreadsOption = None, device: DeviceOption = None,
             tracking_uri: TrackingOption = None, experiment: ExperimentOption = None, set_: SetOption = None,
             as_json: JsonOption = False) -> None:
    """A verdict for every sample (label_error with a suggested label, outlier, hard or easy) and each verdict's
    precision, calibrated on copies of your data with injected label flips and outliers."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.diagnose.run import run_diagnose

    with reported_errors(as_json):
        resolved = _resolve(locals(), target_precision="diagnose.target_precision")
        with progress_bar("diagnose", enabled=not as_json) as progress:
            summary = run_diagnose(resolved, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    print_table(summary.counts, title=f"Verdicts (target precision {resolved.diagnose.target_precision:g})")
    shown = ["verdict", "threshold", "target_reached", "estimated_precision", "precision_low", "precision_high",
             "estimated_recall", "flagged"]
    print_table(summary.diagnosis.calibration[shown], title="Calibration on the injected copies (95% intervals)")
    typer.echo(f"MLflow run {summary.run_id}; diagnosis.csv holds one row per sample "
               f"(hardness export --run-id {summary.run_id} --verdict label_error,outlier)")


TrialsOption = Annotated[Optional[int], typer.Option(help="Trials this process runs (with --n-workers: each worker).")]
StudyTrialsOption = Annotated[Optional[int], typer.Option(
    min=1, help="Cap on the whole study's trials, over every worker and rerun.")]
NWorkersOption = Annotated[Optional[int], typer.Option(
    min=1, help="Local worker processes on the study, one torch thread each.")]
StorageOption = Annotated[Optional[str], typer.Option(help="Optuna storage URL (default: optuna.db beside the MLflow store).")]
StudyOption = Annotated[Optional[str], typer.Option(help="Study name; rerun with the same name to resume.")]


@app.command()
def search(config: ConfigArgument = None, identifier: IdentifierOption = None, trials: TrialsOption = None,
           study_trials: StudyTrialsOption = None, n_workers: NWorkersOption = None,
           storage: StorageOption = None, study_name: StudyOption = None, dataset: DatasetOption = None,
           subset_size: SubsetOption = None, epochs: EpochsOption = None, data_root: DataRootOption = None,
           data_path: DataPathOption = None, threads: ThreadsOption = None, device: DeviceOption = None,
           tracking_uri: TrackingOption = None, experiment: ExperimentOption = None, set_: SetOption = None,
           as_json: JsonOption = False) -> None:
    """Optuna search over an identifier's threshold (or inversion rule) for the largest easy-minus-hard gap."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.search.workers import launch_search

    with reported_errors(as_json):
        resolved = _resolve(locals())
        with progress_bar("trials", enabled=not as_json) as progress:
            summary = launch_search(resolved, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    best = summary.best().drop(columns=["state", "feasible"]).rename(columns={"number": "trial", "value": "gap"})
    print_table(best, title=f"Best feasible trials of study {summary.study_name!r} (easy-minus-hard test accuracy gap)")
    states = ", ".join(f"{n} {state.lower()}" for state, n in summary.to_dict()["states"].items())
    typer.echo(f"{summary.ran} trials run here; the study holds {len(summary.trials)} ({states}) in {summary.storage}")
    typer.echo(f"MLflow run {summary.parent_run_id}")


@app.command()
def datasets(data_root: DataRootOption = Path("data"), dataset: DatasetOption = None, data_path: DataPathOption = None,
             set_: SetOption = None, as_json: JsonOption = False) -> None:
    """List the datasets, their sizes and whether each is available locally; with --dataset, read that one (your own
    with --data-path) and show its size."""
    import pandas as pd

    from hardness.console import print_json, print_table
    from hardness.datasets.prepare import list_datasets, read_dataset_info

    with reported_errors(as_json):
        if dataset is None and data_path is None and not set_:
            infos = list_datasets(data_root)
        else:
            infos = [read_dataset_info(_resolve({**locals(), "config": None}).data)]
        frame = pd.DataFrame([vars(info) for info in infos])
    if as_json:
        print_json(frame.to_dict(orient="records"))
        return
    print_table(frame, title=f"Datasets (root: {data_root})")


@app.command()
def identifiers(as_json: JsonOption = False) -> None:
    """List the hard-sample identifiers: kind (scores, set or both), what each observes, its cost, its reference."""
    import pandas as pd

    from hardness.catalogue import IDENTIFIER_ENTRIES
    from hardness.console import print_json, print_table

    frame = pd.DataFrame([{"name": name, **entry._asdict()} for name, entry in IDENTIFIER_ENTRIES.items()])
    if as_json:
        print_json(frame.to_dict(orient="records"))
        return
    print_table(frame, title="Identifiers (higher score = harder; cost = extra observations per epoch)")


@app.command()
def report(experiment: Annotated[Optional[list[str]], typer.Option(help="Experiment to read (repeatable; default: all).")] = None,
           run_id: Annotated[Optional[list[str]], typer.Option(help="Only this run and its children (repeatable).")] = None,
           out: Annotated[Path, typer.Option(help="Folder for figures/, tables/ and report.md.")] = Path("reports"),
           tracking_uri: TrackingOption = None, as_json: JsonOption = False) -> None:
    """Figures (PNG, PDF) and tables (CSV, Markdown) from tracked runs, aggregated across seeds; logged as a report run."""
    from hardness.console import print_json, print_table, progress_bar
    from hardness.studies.report.run import run_report

    with reported_errors(as_json):
        with progress_bar("report", enabled=not as_json) as progress:
            summary = run_report(tracking_uri=tracking_uri, experiments=experiment or [], run_ids=run_id or [],
                                 out=out, progress=progress)
    if as_json:
        print_json(summary.to_dict())
        return
    print_table(summary.table(), title=f"Report written to {out}/ (index: {out}/report.md)")
    for note in summary.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"MLflow report run {summary.report_run_id} (experiment {summary.experiment!r})")


@app.command()
def export(run_id: Annotated[str, typer.Option(help="The run to export: a `hardness run`, identify, imbalance, "
                                                    "benchmark or diagnose run.")],
           fmt: Annotated[Optional[str], typer.Option("--format", help="csv or parquet (default: from --out, else "
                                                                       "csv); review (a CSV of the samples to look at, "
                                                                       "hardest first, with a corrected_label column "
                                                                       "to fill) or label-studio (tasks JSON and "
                                                                       "<out>.xml labeling config), both read back by "
                                                                       "hardness relabel.")] = None,
           out: Annotated[Optional[Path], typer.Option(help="File to write (default: export-<run id>.<format>).")] = None,
           min_agreement: Annotated[Optional[float], typer.Option(
               min=0.0, max=1.0, help="Keep the samples flagged by at least this fraction of seeds (of any identifier); "
                                      "with --clean-out, what counts as flagged (default there: 0.5).")] = None,
           clean_out: Annotated[Optional[Path], typer.Option(
               help="Also write the data without the flagged samples into this folder, in its own format (npz for "
                    "built-in datasets).")] = None,
           verdict: Annotated[Optional[str], typer.Option(
               help="A diagnose run: keep the rows of these comma-separated verdicts (label_error, outlier, hard, "
                    "easy); with --clean-out, the verdicts dropped (default there: label_error,outlier).")] = None,
           relabel: Annotated[bool, typer.Option(
               "--relabel", help="A diagnose run with --clean-out: give label errors their suggested labels instead "
                                 "of dropping them.")] = False,
           tracking_uri: TrackingOption = None, as_json: JsonOption = False) -> None:
    """One row per sample of a run: original index, file, label, each identifier's mean score and agreement over seeds,
    its class's inversion epoch (a diagnose run: its verdicts); optionally the data without the flagged samples."""
    from hardness.console import print_json
    from hardness.studies.export.run import run_export

    with reported_errors(as_json):
        summary = run_export(run_id, tracking_uri=tracking_uri, fmt=fmt, out=out, min_agreement=min_agreement,
                             clean_out=clean_out, verdicts=verdict, relabel=relabel)
    if as_json:
        print_json(summary.to_dict())
        return
    typer.echo(f"{summary.n_rows} of {summary.n_samples} samples ({', '.join(summary.identifiers)}; {summary.kind} run "
               f"{summary.run_id}) written to {summary.out}")
    if summary.clean_out is not None:
        typer.echo(f"{summary.n_clean} samples left after dropping the flagged ones ({summary.n_relabelled} "
                   f"relabelled), written to {summary.clean_out}")


@app.command()
def datamap(run_id: Annotated[str, typer.Option(help="The run to draw: any run export reads (identify, benchmark and "
                                                     "diagnose runs log theirs as they finish).")],
            x: Annotated[Optional[str], typer.Option(help="Column on the x axis: <identifier>_score, "
                                                          "<identifier>_agreement, confidence, variability or label.")] = None,
            y: Annotated[Optional[str], typer.Option(help="Column on the y axis (as --x).")] = None,
            color: Annotated[str, typer.Option(help="Colour by verdict, hard (hard set) or class.")] = "verdict",
            thumbnail_mb: Annotated[float, typer.Option(min=0.0, help="Megabytes of thumbnail pixels the page holds, "
                                                                      "hardest samples first.")] = 8.0,
            out: Annotated[Optional[Path], typer.Option(help="Also write the page to this file.")] = None,
            tracking_uri: TrackingOption = None, as_json: JsonOption = False) -> None:
    """Draw a run's data map again: one self-contained HTML page (scores, verdicts, thumbnails, filters, gallery),
    logged as the run's datamap.html, which the MLflow UI opens."""
    from hardness.console import print_json
    from hardness.studies.datamap.run import run_datamap

    with reported_errors(as_json):
        summary = run_datamap(run_id, tracking_uri=tracking_uri, out=out, x=x, y=y, color=color,
                              thumbnail_mb=thumbnail_mb)
    if as_json:
        print_json(summary.to_dict())
        return
    where = f" and {summary.out}" if summary.out is not None else ""
    typer.echo(f"data map of {summary.n_samples} samples ({summary.kind} run {summary.run_id}) logged as "
               f"{summary.artifact}{where}")


@app.command()
def relabel(run_id: Annotated[str, typer.Option(help="The run whose samples were reviewed (any run export reads).")],
            corrections: Annotated[Path, typer.Option(help="A CSV of original_index (or index) and corrected_label "
                                                           "(or label), e.g. a filled `export --format review`, or a "
                                                           "Label Studio export (JSON or JSON_MIN).")],
            out: Annotated[Optional[Path], typer.Option(help="Folder for the new version of the data (default: "
                                                             "relabelled-<run id>).")] = None,
            measure: Annotated[bool, typer.Option(help="Also train the run's ensembles on the original labels, the "
                                                       "corrected ones and without the corrected samples, and compare "
                                                       "test accuracy on all, hard and easy samples.")] = False,
            tracking_uri: TrackingOption = None, as_json: JsonOption = False) -> None:
    """Write a new version of a run's data with a reviewer's corrections (its own format; npz for built-in datasets),
    tracked as a relabel run whose dataset names the parent's digest and the corrections file; --measure: what it buys."""
    from hardness.console import print_json, print_table
    from hardness.studies.relabel.run import run_relabel

    with reported_errors(as_json):
        summary = run_relabel(run_id, corrections, tracking_uri=tracking_uri, out=out, measure=measure)
    if as_json:
        print_json(summary.to_dict())
        return
    if summary.fix is not None:
        print_table(summary.fix.round(4), title=f"Test accuracy by training labels (against {summary.reference} "
                                                f"labels; 95% intervals, paired against the original)")
    typer.echo(f"{summary.n_corrected} labels corrected; data written to {summary.data}; MLflow run {summary.run_id}")


@app.command()
def runs(experiment: ExperimentOption = None, tracking_uri: TrackingOption = None,
         stale_after: Annotated[float, typer.Option(min=0, help="Seconds without a heartbeat after which a RUNNING "
                                                               "run counts as stale (its process is gone).")] = STALE_AFTER_S,
         mark_stale_failed: Annotated[bool, typer.Option(help="End the stale runs FAILED.")] = False,
         limit: Annotated[int, typer.Option(help="Show the newest N runs (stale ones always; 0: all).")] = 30,
         as_json: JsonOption = False) -> None:
    """List an experiment's runs (status, kind, age) and the stale ones a killed process left RUNNING."""
    from hardness.console import print_json, print_table
    from hardness.studies.runs.run import list_runs

    with reported_errors(as_json):
        summary = list_runs(tracking_uri, experiment or "hardness", stale_after_s=stale_after,
                            mark_stale_failed=mark_stale_failed, limit=limit)
    if as_json:
        print_json(summary.to_dict())
        return
    print_table(summary.display(), title=f"Runs of experiment {summary.experiment!r} ({len(summary.runs)} of "
                                         f"{summary.total}, newest first)")
    typer.echo(summary.outcome(stale_after))


@app.command()
def ui(tracking_uri: TrackingOption = None,
       host: Annotated[str, typer.Option(help="Address to serve on (loopback by default: the UI has no login).")] = "127.0.0.1",
       port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 5000) -> None:
    """Open the MLflow UI on the store every command writes to (./mlruns by default); a server URI is printed."""
    from hardness.redaction import redact_url
    from hardness.tracking.tracker import resolve_tracking_uri, ui_command

    with reported_errors():
        command = ui_command(tracking_uri, host=host, port=port)
    if command is None:  # the server's address, from --tracking-uri or MLFLOW_TRACKING_URI, its password masked
        typer.echo(f"the runs are served by the tracking server: open {redact_url(resolve_tracking_uri(tracking_uri))} "
                   f"in a browser")
        return
    # MLflow 3's UI opens on its GenAI pages for a new browser; this parameter opens the runs tables
    typer.echo(f"MLflow UI: http://{host}:{port}/#/experiments?workflowType=machine_learning (Ctrl-C stops it)")
    os.execvp(command[0], command)


def main() -> None:
    """Console entry point; Ctrl-C, SIGTERM and SIGHUP end the open runs KILLED and exit 130, 143, 129."""
    from hardness.interrupts import exit_on_stop_signals

    with exit_on_stop_signals(last=True):
        app()
