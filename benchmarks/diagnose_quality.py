"""How right `hardness diagnose` is, and how long it takes: planted label errors and atypical samples, found again.

The data gets 10% uniform label flips and 2% atypical samples (shrunk and shifted images) from the detection
benchmark's injections, with a seed of their own, before the diagnosis sees it: these are the answers, kept apart
from the calibration's injected copies. Reported per verdict: the precision measured on the planted answers beside
the diagnosis's estimate; the suggested labels' accuracy on the true flips; the label_error AUPRC; and cleanlab's
`find_label_issues` with its predicted labels (argmax of the same out-of-fold probabilities) as the peer, on the
same labels. Wall time split into scoring the data, calibrating, and fitting the verdicts.

    python -m benchmarks diagnose [--quick] [--data-root ../shared/data]   # --quick: digits only
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.table import Table
from sklearn.metrics import average_precision_score

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.studies.detect.inject import inject
from hardness.studies.diagnose.diagnosis import Diagnosis, diagnose_dataset
from hardness.studies.report.aggregate import to_markdown

PLANTED_SEED = 20_260_419
"""The planted answers' injection seed: apart from the calibration copies' seeds."""
FLIP_RATE, ATYPICAL_RATE = 0.10, 0.02
CONFIGS = {"digits": "configs/diagnose-quick.yaml", "mnist-20k": "configs/diagnose-mnist-20k.yaml"}


@dataclass(frozen=True)
class Planted:
    """The planted answers [N] bool: flipped labels (on unchanged images), atypical images; the labels before."""

    flipped: np.ndarray
    atypical: np.ndarray
    original: np.ndarray


@dataclass(frozen=True)
class QualityNumbers:
    """One dataset's measurement: the verdict rows, the label_error ranking and the peer's, and the timings."""

    dataset: str
    samples: int
    verdicts: pd.DataFrame
    ranking: pd.DataFrame
    timings: dict[str, float]
    wall_s: float


def plant(dataset, seed: int = PLANTED_SEED):
    """The dataset with ATYPICAL_RATE atypical images and then FLIP_RATE uniform flips, and the Planted answers."""
    atypical = inject(dataset, "atypical", ATYPICAL_RATE, seed)
    flipped = inject(atypical.dataset, "uniform", FLIP_RATE, seed)
    changed = atypical.mask.numpy()
    return flipped.dataset, Planted((flipped.dataset.y != dataset.y).numpy() & ~changed, changed, dataset.y.numpy())


def score_verdicts(diagnosis: Diagnosis, planted: Planted) -> pd.DataFrame:
    """Per verdict: samples given it, estimated and measured precision (hard: share not planted), measured recall."""
    given = diagnosis.table["verdict"].to_numpy()
    estimated = diagnosis.calibration.set_index("verdict")
    truths = {"label_error": planted.flipped, "outlier": planted.atypical,
              "hard": ~(planted.flipped | planted.atypical)}
    rows = []
    for verdict, truth in truths.items():
        flagged = given == verdict
        row = estimated.loc[verdict] if verdict in estimated.index else None
        rows.append({"verdict": verdict, "samples": int(flagged.sum()),
                     "estimated_precision": np.nan if row is None else row["estimated_precision"],
                     "interval": "" if row is None else f"{row['precision_low']:.3f}-{row['precision_high']:.3f}",
                     "measured_precision": truth[flagged].mean() if flagged.any() else np.nan,
                     "measured_recall": np.nan if verdict == "hard" else flagged[truth].mean()})
    return pd.DataFrame(rows)


def score_ranking(diagnosis: Diagnosis, planted: Planted) -> pd.DataFrame:
    """label_error against the true flips, ours beside cleanlab's find_label_issues on the same out-of-fold
    probabilities: precision, recall, AUPRC of the ranking, and the accuracy of the suggested (ours: likeliest other
    class; cleanlab: argmax) label on the true flips it flagged and on every true flip."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    evidence, table, truth = diagnosis.evidence, diagnosis.table, planted.flipped
    probs = evidence.pred_probs / evidence.pred_probs.sum(1, keepdims=True)
    others = probs.copy()
    others[np.arange(len(truth)), evidence.labels] = -np.inf
    ours_label, peer_label = others.argmax(1), probs.argmax(1)
    ours = (table["verdict"] == "label_error").to_numpy()
    peer = find_label_issues(evidence.labels, probs, n_jobs=1)
    rankings = {"hardness diagnose": (ours, table["label_error_prob"].to_numpy(), ours_label),
                "cleanlab find_label_issues": (peer, 1 - get_label_quality_scores(evidence.labels, probs), peer_label)}
    return pd.DataFrame([{"method": name, "flagged": int(flagged.sum()), "precision": truth[flagged].mean(),
                          "recall": flagged[truth].mean(), "auprc": average_precision_score(truth, score),
                          "label_accuracy_flagged": (label == planted.original)[flagged & truth].mean(),
                          "label_accuracy_all_flips": (label == planted.original)[truth].mean()}
                         for name, (flagged, score, label) in rankings.items()])


def measure_one(name: str, data_root: str) -> QualityNumbers:
    """Plant the answers into one dataset, diagnose it under its config, score the verdicts and the peer."""
    config = load_config(CONFIGS[name], [f"data.root={data_root}"] if name != "digits" else [])
    dataset, planted = plant(load_dataset(config.data, config.seed))
    start = time.perf_counter()
    diagnosis = diagnose_dataset(dataset, config)
    wall = time.perf_counter() - start
    return QualityNumbers(name, dataset.n_samples, score_verdicts(diagnosis, planted),
                          score_ranking(diagnosis, planted), diagnosis.timings, wall)


def measure(*, data_root: str, quick: bool) -> list[QualityNumbers]:
    """Digits, and (without `quick`) MNIST 20k."""
    return [measure_one(name, data_root) for name in (("digits",) if quick else ("digits", "mnist-20k"))]


def report(results: list[QualityNumbers]) -> Table:
    """One rich table of every dataset's verdicts, peer comparison and timings."""
    table = Table(title="hardness diagnose on planted label flips (10%) and atypical samples (2%)")
    for column in ("dataset", "row", "numbers"):
        table.add_column(column)
    for numbers in results:
        for frame in (numbers.verdicts, numbers.ranking):
            for row in frame.to_dict(orient="records"):
                table.add_row(numbers.dataset, str(next(iter(row.values()))),
                              ", ".join(f"{k} {_fmt(v)}" for k, v in list(row.items())[1:]))
        parts = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in numbers.timings.items())
        table.add_row(numbers.dataset, "wall", f"{numbers.wall_s:.1f} s ({parts}), {numbers.samples} samples")
    return table


def markdown(results: list[QualityNumbers]) -> str:
    """The same numbers as Markdown tables, for the docs."""
    parts = []
    for numbers in results:
        parts += [f"**{numbers.dataset}** ({numbers.samples} samples, {numbers.wall_s:.0f} s: "
                  + ", ".join(f"{part} {seconds:.0f} s" for part, seconds in numbers.timings.items()) + ")",
                  to_markdown(numbers.verdicts.round(3)), to_markdown(numbers.ranking.round(3))]
    return "\n\n".join(parts)


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
