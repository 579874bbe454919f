"""The whole diagnosis of one prepared dataset, untracked: the zoo's evidence on the data, the calibration copies,
the verdict models and their operating points, and the table of one row per sample (schema.DIAGNOSIS).

The label_error model and threshold come first; the outlier model's threshold is chosen on the rows label_error
leaves, as the verdicts are assigned in that order. How many label errors the data holds, which label_error's
precision on the data needs (decision.py), is cleanlab's count of label issues on the data's out-of-fold
probabilities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress, staged
from hardness.studies.common.tables import build_sample_table
from hardness.studies.diagnose.calibrate import CLEAN, FLAGGED, LABEL_ERROR, OUTLIER, REPEAT, TRUTH, calibrate
from hardness.studies.diagnose.decision import (
    OperatingPoint,
    assign_verdicts,
    bootstrap_intervals,
    choose_threshold,
    cross_fit,
    data_precision,
    data_precision_curve,
    fit_model,
    precision_curve,
    suggest_labels,
)
from hardness.studies.diagnose.evidence import Evidence, compute_evidence
from hardness.studies.export.table import SAMPLE_COLUMNS, agreement_column, score_column
from hardness.tracking.schema import VERDICTS

TRUTHS = (LABEL_ERROR, OUTLIER, CLEAN)
"""Rows of the confusion table: what was injected (clean: nothing)."""


@dataclass(frozen=True)
class Curve:
    """A verdict's precision-recall curve on the calibration rows (out of sample) and its chosen point."""

    precision: np.ndarray
    recall: np.ndarray
    point: OperatingPoint


@dataclass(frozen=True)
class Diagnosis:
    """The diagnosis: one row per sample (samples.csv order), the calibration per verdict, the confusion of verdicts
    on the injected copies, the curves, the seconds each part took, and the data's evidence."""

    table: pd.DataFrame
    calibration: pd.DataFrame
    confusion: pd.DataFrame
    curves: dict[str, Curve]
    timings: dict[str, float]
    evidence: Evidence

    @property
    def counts(self) -> dict[str, int]:
        """How many samples got each verdict."""
        return {verdict: int((self.table["verdict"] == verdict).sum()) for verdict in VERDICTS}


def estimate_native(evidence: Evidence) -> float:
    """How many label errors the data itself holds: cleanlab's count of label issues from its confident joint,
    calibrated to the given labels' class counts (on the digits: 2, 184, 355 for 0, 180, 359 flipped labels; the
    uncalibrated count gave 2, 149, 292)."""
    from cleanlab.count import num_label_issues

    probs = evidence.pred_probs / evidence.pred_probs.sum(1, keepdims=True)
    return float(num_label_issues(evidence.labels, probs, estimation_method="off_diagonal_calibrated"))


def diagnose_dataset(dataset: Dataset, config: Config, *, progress: Progress | None = None) -> Diagnosis:
    """Score the data, calibrate on injected copies, fit the verdicts and apply them to the data."""
    clock = time.perf_counter()
    evidence = compute_evidence(dataset, config, progress=staged(progress, "data"))
    scored = time.perf_counter()
    rows = calibrate(dataset, config, progress=progress)
    calibrated = time.perf_counter()
    diagnosis = decide(evidence, rows, build_sample_table(dataset), config)
    timings = {"score": scored - clock, "calibrate": calibrated - scored, "verdicts": time.perf_counter() - calibrated}
    return replace(diagnosis, timings=timings)


def decide(evidence: Evidence, rows: pd.DataFrame, samples: pd.DataFrame, config: Config) -> Diagnosis:
    """The verdict models fitted on the calibration rows, their thresholds for diagnose.target_precision, and the
    data's verdicts (pure: evidence and rows in, a Diagnosis without timings out)."""
    settings, seed, target = config.diagnose, config.seed, config.diagnose.target_precision
    names = [c for c in rows.columns if c not in (TRUTH, REPEAT, FLAGGED)]
    x, truth, groups = rows[names].to_numpy(), rows[TRUTH].to_numpy(), rows[REPEAT].to_numpy()
    real = evidence.features()[names].to_numpy()
    native = estimate_native(evidence)
    is_error, is_outlier = truth == LABEL_ERROR, truth == OUTLIER
    error_probs = cross_fit(x, is_error, groups, seed)
    probs = {LABEL_ERROR: fit_model(x, is_error).predict_proba(real)[:, 1], OUTLIER: None}
    curves = {LABEL_ERROR: _curve(data_precision_curve(error_probs, is_error, probs[LABEL_ERROR], native), target)}
    left = error_probs < curves[LABEL_ERROR].point.threshold
    outlier_probs = None
    if is_outlier.any():
        outlier_probs = cross_fit(x, is_outlier, groups, seed)
        probs[OUTLIER] = fit_model(x, is_outlier).predict_proba(real)[:, 1]
        curve = precision_curve(outlier_probs[left], is_outlier[left], n_positive=int(is_outlier.sum()))
        curves[OUTLIER] = _curve(curve, target)
    thresholds = {name: curve.point.threshold for name, curve in curves.items()}
    given = assign_verdicts(error_probs, thresholds[LABEL_ERROR], outlier_probs, thresholds.get(OUTLIER, np.inf),
                            rows[FLAGGED].to_numpy())
    verdicts = assign_verdicts(probs[LABEL_ERROR], thresholds[LABEL_ERROR], probs[OUTLIER],
                               thresholds.get(OUTLIER, np.inf), evidence.flagged)
    calibration = build_calibration(given, truth, verdicts, curves, native, settings.bootstrap, seed)
    confusion = pd.crosstab(pd.Categorical(truth, TRUTHS), pd.Categorical(given, VERDICTS), dropna=False)
    confusion = confusion.rename_axis(index="injected", columns=None).reset_index()
    precision = calibration.set_index("verdict")["estimated_precision"]
    table = build_diagnosis_table(samples, evidence, verdicts, precision.to_dict(), probs)
    return Diagnosis(table, calibration, confusion, curves, {}, evidence)


def _curve(curve: tuple[np.ndarray, np.ndarray, np.ndarray], target: float) -> Curve:
    thresholds, precision, recall = curve
    return Curve(precision, recall, choose_threshold(thresholds, precision, recall, target))


def build_calibration(given: np.ndarray, truth: np.ndarray, verdicts: np.ndarray, curves: dict[str, Curve],
                      native: float, resamples: int, seed: int) -> pd.DataFrame:
    """Per verdict (label_error, outlier when calibrated, hard): its threshold, whether the target was reached, the
    estimated precision and recall with 95% bootstrap intervals, the calibration rows it flagged and the injected
    ones, and the data's samples given it. Recall is read on the calibration rows (given [M] against truth [M]);
    label_error's precision on the data (verdicts [N], native: its estimated own errors; decision.py), the others'
    on the calibration rows; hard's is the share of its rows that were not injected, and it has no recall."""
    rows = []
    for verdict in (*curves, "hard"):
        flagged = given == verdict
        positive = truth == (CLEAN if verdict == "hard" else verdict)
        found, total, known = float((flagged & positive).sum()), float(flagged.sum()), float(positive.sum())
        recall = found / known if known else np.nan
        on_data = (verdicts == verdict) if verdict == LABEL_ERROR else None
        if on_data is None:
            precision = found / total if total else np.nan
        else:
            precision = float(data_precision(np.array([recall]), np.array([float(on_data.sum())]), native)[0])
        low, high, recall_low, recall_high = bootstrap_intervals(flagged, positive, resamples=resamples, seed=seed,
                                                                 data_flagged=on_data, native=native)
        point = curves.get(verdict)
        rows.append({"verdict": verdict, "threshold": np.nan if point is None else point.point.threshold,
                     "target_reached": None if point is None else point.point.reached,
                     "estimated_precision": precision, "precision_low": low, "precision_high": high,
                     "estimated_recall": np.nan if verdict == "hard" else recall,
                     "recall_low": np.nan if verdict == "hard" else recall_low,
                     "recall_high": np.nan if verdict == "hard" else recall_high,
                     "flagged": int(total), "injected": int(known) if verdict != "hard" else 0,
                     "data_samples": int((verdicts == verdict).sum()),
                     "native_estimate": native if verdict == LABEL_ERROR else np.nan})
    return pd.DataFrame(rows)


def build_diagnosis_table(samples: pd.DataFrame, evidence: Evidence, verdicts: np.ndarray,
                          precision: dict[str, float], probs: dict[str, np.ndarray | None]) -> pd.DataFrame:
    """schema.DIAGNOSIS: the samples' columns, verdict, suggested_label (-1 unless label_error) and its out-of-fold
    probability (NaN unless label_error), the verdict's estimated precision (NaN for easy), each identifier's mean
    score and agreement, then each verdict model's probability (<verdict>_prob, NaN without an outlier model); rows
    as in `samples`."""
    table = samples[[c for c in SAMPLE_COLUMNS if c in samples]].reset_index(drop=True)
    suggested, probability = suggest_labels(evidence.pred_probs, evidence.labels)
    error = verdicts == LABEL_ERROR
    table["verdict"] = verdicts
    table["suggested_label"] = np.where(error, suggested, -1)
    table["suggested_label_prob"] = np.where(error, probability, np.nan)
    table["estimated_precision"] = [precision.get(verdict, np.nan) for verdict in verdicts]
    for name in evidence.scores:
        table[score_column(name)] = evidence.scores[name]
        table[agreement_column(name)] = evidence.agreement[name]
    for verdict, values in probs.items():
        table[f"{verdict}_prob"] = np.nan if values is None else values
    return table
