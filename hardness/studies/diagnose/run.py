"""`hardness diagnose`: the diagnosis of the configured data, tracked as one run (kind diagnose).

The run holds samples.csv and config.yaml like every top-level run, diagnosis.csv (one row per sample),
calibration.csv (each verdict's threshold, precision and recall with intervals), verdict_confusion.csv (injected
truth against verdicts on the calibration copies), a precision-recall figure per calibrated verdict, and metrics:
the count per verdict, each verdict's estimated precision and recall, and the seconds of each part.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.engine.resources import require_memory
from hardness.studies.common.session import open_session
from hardness.studies.datamap.run import log_datamap
from hardness.studies.diagnose.calibrate import check_calibratable
from hardness.studies.diagnose.curves import plot_precision_recall
from hardness.studies.diagnose.diagnosis import Diagnosis, diagnose_dataset
from hardness.tracking import schema

if TYPE_CHECKING:
    from hardness.tracking.tracker import Tracker


@dataclass(frozen=True)
class DiagnoseSummary:
    """The diagnosis and its run."""

    run_id: str
    diagnosis: Diagnosis

    @property
    def counts(self) -> pd.DataFrame:
        """Samples per verdict, with each verdict's estimated precision."""
        precision = self.diagnosis.calibration.set_index("verdict")["estimated_precision"]
        return pd.DataFrame([{"verdict": verdict, "samples": count, "estimated_precision": precision.get(verdict)}
                             for verdict, count in self.diagnosis.counts.items()])

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "counts": self.diagnosis.counts, "timings": self.diagnosis.timings,
                "calibration": self.diagnosis.calibration.to_dict(orient="records"),
                "confusion": self.diagnosis.confusion.to_dict(orient="records")}


def run_diagnose(config: Config, *, progress: Progress | None = None, dataset: Dataset | None = None) -> DiagnoseSummary:
    """Diagnose config's data (or `dataset`, prepared from memory) and log the run."""
    session = open_session(config, dataset=dataset)
    check_calibratable(session.dataset, config)
    require_memory(config, session.dataset, config.seeds * config.identifier.cleanlab_folds,
                   lever="ask for fewer --seeds or identifier.cleanlab_folds, or a smaller --subset-size")
    with session.run(f"diagnose-{session.dataset.name}", schema.Kind.DIAGNOSE) as run_id:
        diagnosis = diagnose_dataset(session.dataset, config, progress=progress)
        clock = time.perf_counter()
        log_diagnosis(session.tracker, run_id, diagnosis, config.diagnose.target_precision)
        if config.tracking.datamap:
            log_datamap(session.tracker, run_id, session.dataset)
        diagnosis = replace(diagnosis, timings={**diagnosis.timings, "tracking": time.perf_counter() - clock})
        session.tracker.log_metrics(run_id, {"time/tracking": diagnosis.timings["tracking"]})
        session.describe(run_id, "verdicts: " + ", ".join(f"{n} {v}" for v, n in diagnosis.counts.items()))
    return DiagnoseSummary(run_id, diagnosis)


def log_diagnosis(tracker: Tracker, run_id: str, diagnosis: Diagnosis, target: float) -> None:
    """The diagnosis's tables, figures and metrics on run `run_id`."""
    tracker.log_table(run_id, diagnosis.table, schema.DIAGNOSIS)
    tracker.log_table(run_id, diagnosis.calibration, schema.CALIBRATION)
    tracker.log_table(run_id, diagnosis.confusion, schema.VERDICT_CONFUSION)
    for verdict, curve in diagnosis.curves.items():
        tracker.log_figure(run_id, plot_precision_recall(verdict, curve, target), schema.pr_figure(verdict))
    metrics = {schema.verdict_metric(verdict): float(count) for verdict, count in diagnosis.counts.items()}
    for row in diagnosis.calibration.to_dict(orient="records"):
        metrics |= {f"{measure}/{row['verdict']}": float(row[f"estimated_{measure}"])
                    for measure in ("precision", "recall") if pd.notna(row[f"estimated_{measure}"])}
    metrics |= {f"time/{part}": seconds for part, seconds in diagnosis.timings.items()}
    tracker.log_metrics(run_id, metrics)
