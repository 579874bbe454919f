"""From evidence to verdicts (pure numpy and scikit-learn): a cross-fitted logistic model per verdict, its threshold
for a target precision, and the precision and recall it is expected to reach, with bootstrap intervals.

Each verdict's model is a logistic regression on the standardised evidence (few features, many samples: a small,
monotone model that extrapolates gently from the injections to the real data). Cross-fitting over the injected
copies (or over 5 seeded folds of one copy) gives every calibration row a probability from a model that did not fit
on it, so thresholds and precisions are chosen out of sample; the model applied to the data fits on every copy.

Precision depends on how many positives there are. The copies hold their injected flips on top of the data's own
(unknown) errors, so a precision read off the copies holds at their rate, not the data's: on clean data it would
promise 0.9 where nearly every flag is wrong. So label_error's precision is estimated on the data itself: of the
samples of the data flagged at a threshold, the share that are its own errors, found at the recall the injected flips
are found with: recall x native / flagged, where `native` estimates how many errors the data holds. Outliers have no
such estimate: their precision is the copies' (at their injected rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOLDS = 5
"""Folds of the calibration rows when there is a single injected copy."""
CHUNK = 50
"""Bootstrap resamples drawn at a time (bounds the weights matrix)."""


def fit_model(features: np.ndarray, positive: np.ndarray):
    """A fitted pipeline (standardise, logistic regression) of positive [M] bool on features [M, F]."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, positive)


def cross_fit(features: np.ndarray, positive: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-sample probabilities [M] of positive: each group's rows from a model fitted on the other groups (FOLDS
    seeded folds when there is one group). A training part without both classes gives that part's base rate."""
    if len(np.unique(groups)) < 2:
        groups = np.random.default_rng(seed).permutation(len(positive)) % FOLDS
    out = np.empty(len(positive))
    for group in np.unique(groups):
        held, train = groups == group, groups != group
        if positive[train].all() or not positive[train].any():
            out[held] = positive[train].mean()
            continue
        out[held] = fit_model(features[train], positive[train]).predict_proba(features[held])[:, 1]
    return out


def precision_curve(probs: np.ndarray, positive: np.ndarray, *,
                    n_positive: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, recall) of flagging probs >= threshold among the calibration rows, one point per
    distinct probability, highest first; recall over n_positive (default positive.sum())."""
    order = np.argsort(-probs, kind="stable")
    ranked, hits = probs[order], positive[order].astype(float)
    last = np.r_[ranked[1:] != ranked[:-1], True]  # the last row of each run of equal probabilities
    flagged = np.arange(1, len(ranked) + 1)[last].astype(float)
    found = np.cumsum(hits)[last]
    recall = found / max(n_positive if n_positive is not None else int(positive.sum()), 1)
    return ranked[last], found / flagged, recall


def data_precision_curve(probs: np.ndarray, positive: np.ndarray, data_probs: np.ndarray,
                         native: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, recall) on the data: recall from the calibration rows (probs, positive), precision
    data_precision(recall, samples of the data at or above the threshold (data_probs), native)."""
    thresholds, _, recall = precision_curve(probs, positive)
    flagged = len(data_probs) - np.searchsorted(np.sort(data_probs), thresholds, side="left")
    return thresholds, data_precision(recall, flagged.astype(float), native), recall


def data_precision(recall: np.ndarray, flagged: np.ndarray, native: float) -> np.ndarray:
    """The share of the data's flagged samples that are its own errors: recall x native / flagged, at most 1; NaN
    where nothing is flagged."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flagged > 0, np.minimum(1.0, recall * native / flagged), np.nan)


@dataclass(frozen=True)
class OperatingPoint:
    """A verdict's threshold on its model's probability, and the precision and recall expected there."""

    threshold: float
    precision: float
    recall: float
    reached: bool


def choose_threshold(thresholds: np.ndarray, precision: np.ndarray, recall: np.ndarray,
                     target: float) -> OperatingPoint:
    """The lowest threshold (most recall) whose precision reaches `target`; when none does, the most precise point
    (ties: the most recall), marked not reached."""
    reached = np.flatnonzero(precision >= target)
    if len(reached):
        at = reached[-1]
    else:
        best = np.nanmax(precision)
        at = np.flatnonzero(precision == best)[-1]
    return OperatingPoint(float(thresholds[at]), float(precision[at]), float(recall[at]), bool(len(reached)))


def bootstrap_intervals(flagged: np.ndarray, positive: np.ndarray, *, resamples: int, seed: int,
                        data_flagged: np.ndarray | None = None, native: float = 0.0) -> tuple[float, ...]:
    """95% percentile intervals (precision low, high, recall low, high) of a calibration flag set [M] bool against
    positive [M] bool, over Poisson-bootstrap resamples of the rows; with data_flagged [N] bool (the data's samples
    given the verdict, resampled too) the precision is data_precision's."""
    rng = np.random.default_rng(seed)
    columns = np.stack([flagged & positive, flagged, positive]).astype(float).T  # [M, 3]
    precisions, recalls = [], []
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        found, total, known = (rng.poisson(1.0, (size, len(flagged))).astype(float) @ columns).T
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(known > 0, found / known, np.nan)
            precision = np.where(total > 0, found / total, np.nan)
        if data_flagged is not None:
            data = rng.poisson(1.0, (size, len(data_flagged))).astype(float) @ data_flagged.astype(float)
            precision = data_precision(recall, data, native)
        precisions.append(precision)
        recalls.append(recall)
    return (*_interval(np.concatenate(precisions)), *_interval(np.concatenate(recalls)))


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def assign_verdicts(label_probs: np.ndarray, label_threshold: float, outlier_probs: np.ndarray | None,
                    outlier_threshold: float, flagged: np.ndarray) -> np.ndarray:
    """Verdicts [N] in order of precedence: label_error where its probability reaches its threshold, else outlier
    likewise (never without an outlier model), else hard where the zoo flags the sample, else easy."""
    outlier = np.zeros(len(flagged), dtype=bool) if outlier_probs is None else outlier_probs >= outlier_threshold
    return np.where(label_probs >= label_threshold, "label_error",
                    np.where(outlier, "outlier", np.where(flagged, "hard", "easy")))


def suggest_labels(pred_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the likeliest class other than the given one [N], its out-of-fold probability [N]) from pred_probs [N, C]."""
    others = pred_probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    suggested = others.argmax(1)
    return suggested, pred_probs[np.arange(len(labels)), suggested]
