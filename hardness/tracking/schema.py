"""The run schema: tag keys, run kinds, artifact names and metric names shared by every writer and the report reader.

Writers (the study shells) and readers (the report) import these names instead of spelling strings, so a
renamed artifact or tag cannot silently break the report.
"""

from __future__ import annotations

from enum import StrEnum

from hardness import catalogue


class Kind(StrEnum):
    """What a run is (tag KIND): one per study, plus `report` for the report's own run."""

    STRAGGLERS = "stragglers"
    IDENTIFY = "identify"
    IMBALANCE = "imbalance"
    BENCHMARK = "benchmark"
    SEARCH = "search"
    REPORT = "report"
    DETECT = "detect"
    DIAGNOSE = "diagnose"
    RELABEL = "relabel"


# --- tags -------------------------------------------------------------------------------------------
KIND = "hardness.kind"
IDENTIFIER = "hardness.identifier"
DATASET = "hardness.dataset"
FINGERPRINT = "hardness.fingerprint"
VERSION = "hardness.version"
GIT_COMMIT = "hardness.git_commit"
RESUME_KEY = "hardness.resume_key"
CELL = "hardness.cell"
"""On imbalance cell runs: the cell's key (hard set, train ratio, remaining); resuming skips FINISHED cells."""
GROUP = "hardness.group"
"""On per-seed child runs of `hardness run`: the parent's run id, so seeds group in the MLflow UI."""
PRUNED = "hardness.pruned"
FEASIBLE = "hardness.feasible"
RUN_NAME = "mlflow.runName"
PARENT_RUN_ID = "mlflow.parentRunId"
STUDY_NAME = "optuna.study_name"
STUDY_STORAGE = "optuna.storage"
STUDY_DIRECTION = "optuna.direction"
TRIAL_NUMBER = "optuna.trial_number"

# --- params on cell / trial runs ----------------------------------------------------------------------
IDENTIFIER_PARAM = "identifier"

# --- artifacts ----------------------------------------------------------------------------------------
CONFIG = "config.yaml"
CONFIG_SOURCE = "config_source"
STRAGGLERS_TABLE = "stragglers.csv"
RADII_TABLE = "radii.csv"
RADII_SUMMARY = "radii_summary.csv"
PER_CLASS = "per_class.csv"
SCORES = "scores.csv"
COUNTS_PER_CLASS = "counts_per_class.csv"
HARD_SETS = "hard_sets.csv"
CELLS = "cells.csv"
SPLIT = "split.csv"
METRICS_PER_INIT = "metrics_per_init.csv"
GAPS = "gaps.csv"
HEADLINE = "headline.csv"
CLASS_COUNTS = "class_counts.csv"
TRIALS = "trials.csv"


def hard_set_table(seed: int) -> str:
    """Artifact of `hardness identify`: the hard set of model `seed`."""
    return f"hard_sets/seed_{seed}.csv"


def matrix_table(measure: str) -> str:
    """Benchmark artifact: the overlap or Jaccard matrix between identifiers."""
    return f"{measure}_matrix.csv"


# --- metrics ------------------------------------------------------------------------------------------
def per_class(prefix: str, label: int) -> str:
    """Metric name of one class, e.g. per_class(RADIUS, 3) == 'radius/class_3'."""
    return f"{prefix}/class_{label}"


RADIUS = "radius"
INVERSION_EPOCH = "inversion_epoch"
INVERSION_ATTEMPT = "inversion_attempt"
INVERSION_EPOCH_MEAN = "inversion_epoch_mean"
STRAGGLERS = "stragglers"
STRAGGLERS_MEAN = "stragglers_mean"
STRAGGLER_COUNT = "stragglers/count"
CLASSES_NOT_INVERTED = "classes_not_inverted"


# --- names the report reads (appended with the report split) ------------------------------------------
def class_of(prefix: str, name: str) -> int | None:
    """The class of a per_class(prefix, c) metric name, else None: class_of(RADIUS, 'radius/class_3') == 3."""
    head, _, label = name.rpartition("/class_")
    return int(label) if head == prefix and label.isdigit() else None


HARD_SET_PARAM = "hard_set"
TRAIN_RATIO_PARAM = "train_ratio"
REMAINING_PARAM = "remaining"
REDUCE_PARAM = "reduce"
"""Params on imbalance cell runs: the cell's hard set and grid point, and which side of the data was reduced."""
WARMUP_CONFIG = "inversion.warmup"
REDUCE_CONFIG = "imbalance.reduce"
"""Config keys as `Config.flat()` logs them as params of top-level runs."""

MEASURES = ("acc", "precision", "recall", "f1")
TEST_PARTS = ("all", "hard", "easy")
STD_SUFFIX = "_std"
"""Imbalance cell metrics: part_metric(measure, part) and gap_metric(measure), each also as <name>_std."""


def part_metric(measure: str, part: str) -> str:
    """A measure on one part of the test set, e.g. part_metric('acc', 'hard') == 'acc/hard'."""
    return f"{measure}/{part}"


def gap_metric(measure: str) -> str:
    """The easy-minus-hard difference of a measure, e.g. gap_metric('acc') == 'gap/acc'."""
    return f"gap/{measure}"


MATRICES = ("overlap", "jaccard")
"""The measures the benchmark logs as matrix_table(measure)."""
OBJECTIVE = "objective"
HARD_FRACTION = "hard_fraction"
"""Metrics of search trial runs: objective/<name> (the value optimised) and the hard-set fraction."""


def objective_metric(name: str) -> str:
    """A search objective's metric on trial runs, e.g. objective_metric('gap') == 'objective/gap'."""
    return f"{OBJECTIVE}/{name}"


REPORT_INDEX = "report.md"
REPORT_FIGURES = "figures"
REPORT_TABLES = "tables"
"""The report's index and folders, the same under its output folder and among its run's artifacts."""


def source_count(section: str) -> str:
    """Metric of the report run: how many runs of a section it read, e.g. 'sources/benchmarks'."""
    return f"sources/{section}"

BASELINE_IDENTIFIER = catalogue.BASELINE_IDENTIFIER
"""Readers find the baseline's tables under this name (hardness.catalogue defines it)."""

# --- divergence and training loss (hardness.engine.divergence) ------------------------------------------------
DIVERGED = "hardness.diverged"
"""Tag on per-model runs: "true" when the model's training diverged (it is left out of every summary)."""
DIVERGED_COUNT = "diverged"
DIVERGED_EPOCH = "diverged_epoch"
"""Metrics: `diverged` (1/0 on a model's run, the number of diverged models on its parent) and the epoch it diverged."""
LOSS = "loss"
LOSS_MEAN = "loss/mean"
"""Training loss per epoch: of one model on its run, the mean over the models that did not diverge on the parent."""

# --- liveness (hardness.tracking.heartbeat) and shared runs ------------------------------------------------------
HEARTBEAT = "hardness.heartbeat"
"""Tag on every open run: epoch milliseconds of its last heartbeat (a RUNNING run not seen for long is stale)."""
STALE = "hardness.stale"
"""Tag "true" on a run that `hardness runs --mark-stale-failed` ended FAILED."""
WORKER_PREFIX = "hardness.worker."
"""Tags hardness.worker.<id> on a run several processes share (a search's parent): running, finished, killed, failed,
or lost; the last worker to leave ends the run."""

# --- the detection benchmark (hardness detect) -----------------------------------------------------------
DETECT_UNIT = "hardness.detect_unit"
"""Tag on detect child runs: the unit's key (injection type and rate); resuming skips FINISHED units."""
INJECTION_PARAM = "injection"
RATE_PARAM = "rate"
INJECTED_PARAM = "n_injected"
"""Params on detect child runs: the injection type, its rate and how many samples it changed."""
DETECTION = "detection.csv"
"""Long table: one row per (injection, rate, identifier, seed or ensemble) with every DETECT_MEASURES column; a detect
child run holds its unit's rows, the parent all of them."""
DETECTION_SUMMARY = "detection_summary.csv"
"""Parent of a detect run: ensemble AUROC per identifier (rows) and injection type (columns), mean over rates."""
INJECTED = "injected.csv"
"""Detect child run: the injected samples (original index, label before and after)."""
DETECT_MEASURES = ("auroc", "auprc", "precision_at_m", "hard_recall", "hard_precision")
"""How well an identifier finds the m injected samples: ranking (AUROC, average precision, precision of its m
highest scores) and its thresholded hard set (share of the injected it holds, share of it that is injected)."""
SCOPE_ENSEMBLE, SCOPE_SEED = "ensemble", "seed"
"""detection.csv `scope`: one model (its `seed` column set) or the ensemble of all seeds (mean score, majority set)."""
SEED_MEAN, SEED_STD = "seed_mean", "seed_std"


def detect_metric(measure: str, identifier: str, statistic: str | None = None) -> str:
    """Metric of a detect run: the ensemble's value ('auroc/energy'), or a statistic over seeds ('auroc/energy/seed_mean')."""
    return f"{measure}/{identifier}" if statistic is None else f"{measure}/{identifier}/{statistic}"

# --- the diagnosis (hardness diagnose) -----------------------------------------------------------------
DIAGNOSIS = "diagnosis.csv"
"""Diagnose runs: one row per sample in samples.csv's order: the samples' columns, verdict, suggested_label (-1 where
the verdict is not label_error), suggested_label_prob, estimated_precision, <identifier>_score, <identifier>_agreement,
label_error_prob and outlier_prob (the verdict models' probabilities)."""
CALIBRATION = "calibration.csv"
"""Diagnose runs: per verdict its threshold, estimated precision and recall with bootstrap intervals, on the injections."""
VERDICT_CONFUSION = "verdict_confusion.csv"
"""Diagnose runs: injected truth (rows) against the verdicts given to the calibration copies' samples (columns)."""
VERDICTS = ("label_error", "outlier", "hard", "easy")
"""The verdicts of a diagnosis, in order of precedence."""


def verdict_metric(verdict: str) -> str:
    """Metric of a diagnose run: how many samples got a verdict, e.g. 'verdict/label_error'."""
    return f"verdict/{verdict}"


def pr_figure(verdict: str) -> str:
    """Figure of a diagnose run: a verdict's precision-recall curve on the injections, its operating point marked."""
    return f"pr_{verdict}.png"


# --- label noise ranking (hardness identify under data.label_noise) --------------------------------------
def noise_metrics(measures: dict[str, float]) -> dict[str, float]:
    """Scores against the flipped labels (hardness.studies.common.scoring) as metrics: 'recall' -> 'noise/recall'."""
    return {f"noise/{measure}": value for measure, value in measures.items()}


NOISE_AUROC, NOISE_AUPRC = "noise/auroc", "noise/auprc"
"""Metrics of identify runs: AUROC / AUPRC of each seed's scores against the flipped labels (step = seed), and
<name>_mean over the seeds; the hard sets' noise/recall, noise/precision and noise/f1 likewise."""

# --- your own data, threads and acting on results (hardness export, the report's gallery) ---------------
THREADS = "hardness.threads"
"""Tag on every run: the torch intra-op threads its process computed with (train.threads or the cores available)."""
DEVICE = "hardness.device"
"""Tag on every run: the device its computations ran on, train.device resolved (`cpu`, `cuda`; never `auto`)."""
DATA_SOURCE = "hardness.data_source"
"""Tag on every run: where its data was read, data.path (or data.root) made absolute when the run started; `hardness
export --clean-out` reads the data there, wherever it is run from."""
SAMPLES = "samples.csv"
"""Top-level runs: one row per prepared sample (original_index, label, clean_label, and class_name / path when the
source has them), the rows `hardness export` writes out."""
GALLERY = "gallery.csv"
"""Parents of `hardness run` / `identify`: the hardest samples per class (rank, agreement, score, sample columns) and,
for images, their pixels (pixel_<i>, 0..255, image_shape 'CxHxW'); the report draws it."""
DATAMAP = "datamap.html"
"""Identify, benchmark and diagnose runs (and `hardness datamap` on any run export reads): the interactive data map,
one self-contained page the MLflow UI's artifact viewer opens."""
RELABEL_SOURCE = "hardness.relabel_source"
"""Tag on relabel runs: the run whose verdicts the corrections answer."""
FIX_REFERENCE = "hardness.fix_reference"
"""Tag on measured relabel runs: the labels test accuracy was measured against (clean: injected noise; corrected)."""
CORRECTIONS = "corrections.csv"
"""Relabel runs: the labels changed (original_index, label, corrected_label), as applied to the data."""
FIX_TABLE = "fix.csv"
"""Measured relabel runs: test accuracy per arm (original, corrected, dropped), test part (all, hard, easy) and seed."""
FIX_SUMMARY = "fix_summary.csv"
"""Measured relabel runs: per arm and test part the mean accuracy with its 95% interval, and the paired test against the original."""
FIX_FIGURE = "fix.png"

EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_VALUE = "custom_model_development"
"""Experiment tag that makes the MLflow 3 UI open on the runs table instead of the GenAI overview."""
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
SOURCE_GIT_COMMIT = "mlflow.source.git.commit"
USER = "mlflow.user"
NOTE = "mlflow.note.content"
"""MLflow's standard run tags: where the run came from, who ran it, and its description (the command and headline)."""
RADII_FIGURE = "radii.png"
"""The radii figure on every `hardness run` parent (mean ± std per class, inversion epochs marked)."""
