"""`hardness detect`: the detection benchmark, tracked and resumable.

One parent run (kind detect) per config; under it one child run per unit, an (injection type, rate) pair, tagged
`hardness.detect_unit`. A unit is the natural grain: its injected data, its reference stragglers (like_stragglers
thresholds) and its identifications belong together, and the identifiers of one unit are compared on the very same
samples. The child holds the unit's detection metrics per identifier (schema.detect_metric), detection.csv and
injected.csv; the parent the long detection.csv of every unit and detection_summary.csv (ensemble AUROC per identifier
and type). Rerunning the same config reopens the parent and skips FINISHED units.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress, staged
from hardness.engine.resources import require_memory
from hardness.errors import UserError
from hardness.identifiers import BASELINE, get_identifier
from hardness.identifiers.hardsets import check_threshold
from hardness.studies.common.executors import open_executor, parallel_fits
from hardness.studies.common.session import Session, open_session, resume_key
from hardness.studies.detect.evaluate import evaluate_injection
from hardness.studies.detect.inject import REFERENCE_TYPES, Injection, check_injectable, inject
from hardness.studies.detect.measures import build_summary, summarise_unit
from hardness.studies.detect.reference import compute_reference_probabilities
from hardness.studies.report.load import quiet_downloads
from hardness.tracking import schema


@dataclass(frozen=True)
class Unit:
    """One (injection type, rate) of the benchmark."""

    type: str
    rate: float

    @property
    def key(self) -> str:
        return f"{self.type}-r{self.rate:g}"


@dataclass(frozen=True)
class UnitResult:
    """What a unit's work gives back: its detection rows and its injected samples (original index, label before and
    after)."""

    detection: pd.DataFrame
    injected: pd.DataFrame


def evaluate_unit(unit: Unit, *, dataset: Dataset, config: Config, names: list[str],
                  probabilities: torch.Tensor | None, progress: Progress | None = None) -> UnitResult:
    """Inject the unit into the data and let every identifier in `names` find it: the work unit an executor runs."""
    injection = inject(dataset, unit.type, unit.rate, config.seed, probabilities=probabilities)
    table = evaluate_injection(injection, config, names, progress=progress)
    table.insert(0, schema.INJECTION_PARAM, unit.type)
    table.insert(1, schema.RATE_PARAM, unit.rate)
    return UnitResult(table, _injected_table(dataset, injection))


@dataclass(frozen=True)
class DetectSummary:
    """Every unit's detection rows (long), the summary pivot, and the detect run."""

    parent_run_id: str
    detection: pd.DataFrame
    summary: pd.DataFrame
    skipped: int

    @property
    def units(self) -> int:
        """How many (injection type, rate) units the run holds."""
        return len(self.detection[[schema.INJECTION_PARAM, schema.RATE_PARAM]].drop_duplicates())

    def to_dict(self) -> dict:
        return {"parent_run_id": self.parent_run_id, "units": self.units, "skipped_units": self.skipped,
                "summary": self.summary.to_dict(orient="records"),
                "detection": self.detection.to_dict(orient="records")}


def detect_config(config: Config) -> Config:
    """The config detection runs under: detect.threshold, when given, replaces the top-level threshold."""
    if config.detect.threshold is None:
        return config
    return config.model_copy(update={"threshold": config.detect.threshold})


def run_detect(config: Config, *, progress: Progress | None = None) -> DetectSummary:
    """Inject every type at every rate, let every configured identifier find the injected samples, log the scores."""
    config = detect_config(config)
    if config.data.label_noise > 0:
        raise UserError("hardness detect injects its own label noise and counts only those samples as injected: set "
                        "data.label_noise to 0")
    names = sorted(config.detect.identifiers, key=lambda name: name != BASELINE)
    for name in names:
        get_identifier(name)
    check_threshold(names, config.threshold)
    session = open_session(config)
    check_injectable(session.dataset, config.detect.types, config.detect.rates,
                     per_feature=config.data.standardise == "feature")
    require_memory(config, session.dataset, max(config.seeds * parallel_fits(config.executor),
                                                 2 * config.detect.reference_models),
                   lever="ask for fewer --seeds or detect.reference_models, or a smaller --subset-size")
    key = resume_key(config, "detect")
    with open_executor(config.executor, threads=config.train.threads) as executor, \
            session.run(f"detect-{session.dataset.name}", schema.Kind.DETECT, key=key) as parent:
        done = session.tracker.finished_runs_by_tag(schema.DETECT_UNIT, parent_run_id=parent)
        units = [Unit(t, r) for t in config.detect.types for r in config.detect.rates]
        pending = [unit for unit in units if unit.key not in done]
        probabilities = None
        if any(unit.type in REFERENCE_TYPES for unit in pending):
            probabilities = compute_reference_probabilities(session.dataset, config,
                                                            progress=staged(progress, "reference"))
        shared = {"dataset": session.dataset, "config": config, "names": names, "probabilities": probabilities}
        tables = {unit.key: _log_unit(session, parent, unit, names, result)
                  for unit, result in executor.map(evaluate_unit, pending, shared, progress=progress, label="unit")}
        with quiet_downloads():
            tables |= {unit.key: session.tracker.load_table(done[unit.key], schema.DETECTION) for unit in units
                       if unit.key in done}
        detection = pd.concat([tables[unit.key] for unit in units], ignore_index=True)
        summary = _log_summary(session, parent, detection)
    return DetectSummary(parent, detection, summary, len(units) - len(pending))


def _log_summary(session: Session, parent: str, detection: pd.DataFrame) -> pd.DataFrame:
    """Log every unit's rows, the summary pivot, the ensemble AUROC per identifier and the run's description on the
    parent; returns the pivot."""
    summary = build_summary(detection)
    session.tracker.log_table(parent, detection, schema.DETECTION)
    session.tracker.log_table(parent, summary, schema.DETECTION_SUMMARY)
    session.tracker.log_metrics(parent, {schema.detect_metric("auroc", row["identifier"]): float(row["mean"])
                                         for _, row in summary.iterrows() if pd.notna(row["mean"])})
    types = [column for column in summary.columns[1:-1] if summary[column].notna().any()]
    session.describe(parent, "best ensemble AUROC per injection type (mean over rates): " + ", ".join(
        f"{column} {summary.loc[summary[column].idxmax(), 'identifier']} {summary[column].max():.3f}" for column in types))
    return summary


def _log_unit(session: Session, parent: str, unit: Unit, names: list[str], result: UnitResult) -> pd.DataFrame:
    """Log one evaluated unit as a child run (its metrics and tables); returns its detection rows."""
    params = {schema.INJECTION_PARAM: unit.type, schema.RATE_PARAM: unit.rate,
              schema.INJECTED_PARAM: len(result.injected), "identifiers": ",".join(names)}
    with session.run(f"detect-{unit.key}", schema.Kind.DETECT, parent_run_id=parent, params=params,
                     tags={schema.DETECT_UNIT: unit.key}) as child:
        session.tracker.log_metrics(child, summarise_unit(result.detection)
                                    | {schema.INJECTED_PARAM: float(len(result.injected))})
        session.tracker.log_table(child, result.detection, schema.DETECTION)
        session.tracker.log_table(child, result.injected, schema.INJECTED)
    return result.detection


def _injected_table(dataset: Dataset, injection: Injection) -> pd.DataFrame:
    """The injected samples: original index, label before and after (equal unless the injection flips labels)."""
    positions = injection.mask.nonzero().flatten()
    return pd.DataFrame({"original_index": dataset.index[positions].numpy(),
                         "label": dataset.y[positions].numpy(),
                         "injected_label": injection.dataset.y[positions].numpy()})
