"""The diagnosis's pure parts against hand-computed answers: precision curves (on the calibration rows, and on the
data from its estimated own errors), thresholds for a target precision, bootstrap intervals, verdict precedence, suggested labels, export plans."""

import numpy as np
import pandas as pd
import pytest

from hardness.errors import UserError
from hardness.studies.diagnose.decision import (
    assign_verdicts,
    bootstrap_intervals,
    choose_threshold,
    cross_fit,
    data_precision,
    data_precision_curve,
    precision_curve,
    suggest_labels,
)
from hardness.studies.export.diagnosed import keep_verdicts, parse_verdicts, plan_clean

PROBS = np.array([0.9, 0.8, 0.8, 0.6, 0.3, 0.1])
TRUTH = np.array([True, True, False, True, False, False])


def test_precision_curve_one_point_per_distinct_probability():
    thresholds, precision, recall = precision_curve(PROBS, TRUTH)
    assert thresholds.tolist() == [0.9, 0.8, 0.6, 0.3, 0.1]
    assert precision.tolist() == pytest.approx([1, 2 / 3, 3 / 4, 3 / 5, 3 / 6])
    assert recall.tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    _, _, recall = precision_curve(PROBS, TRUTH, n_positive=6)
    assert recall[-1] == pytest.approx(0.5)


def test_precision_on_the_data_is_its_own_errors_found_at_the_injected_recall():
    # the data: 10 samples, 4 own errors estimated; at threshold 0.8 two of its samples are flagged, at 0.1 all ten
    data = np.array([0.95, 0.85, 0.7, 0.5, 0.2, 0.05, 0.05, 0.05, 0.05, 0.05])
    thresholds, precision, recall = data_precision_curve(PROBS, TRUTH, data, native=4.0)
    assert thresholds.tolist() == [0.9, 0.8, 0.6, 0.3, 0.1]
    flagged = np.array([1, 2, 3, 4, 5])
    assert precision.tolist() == pytest.approx(np.minimum(1, recall * 4 / flagged).tolist())
    assert precision[0] == pytest.approx(1) and precision[-1] == pytest.approx(4 / 5)
    assert np.isnan(data_precision(np.array([0.5]), np.array([0.0]), 4.0)[0])
    # clean data (no own errors): every flag is wrong, whatever the copies say
    _, clean, _ = data_precision_curve(PROBS, TRUTH, data, native=0.0)
    assert clean.tolist() == [0, 0, 0, 0, 0]


def test_threshold_for_the_target_takes_the_most_recall():
    point = choose_threshold(*precision_curve(PROBS, TRUTH), target=0.7)
    assert (point.threshold, point.precision, point.recall, point.reached) == (0.6, 0.75, 1.0, True)
    missed = choose_threshold(np.array([0.5, 0.4]), np.array([0.6, 0.6]), np.array([0.5, 1.0]), target=0.9)
    assert (missed.threshold, missed.recall, missed.reached) == (0.4, 1.0, False)


def test_bootstrap_intervals_hold_the_estimate_and_are_exact_without_spread():
    flagged = np.r_[np.ones(80, bool), np.zeros(120, bool)]
    positive = np.r_[np.ones(60, bool), np.zeros(20, bool), np.ones(20, bool), np.zeros(100, bool)]
    low, high, recall_low, recall_high = bootstrap_intervals(flagged, positive, resamples=200, seed=0)
    assert low < 0.75 < high and recall_low < 0.75 < recall_high and high - low < 0.25
    exact = bootstrap_intervals(np.ones(50, bool), np.ones(50, bool), resamples=20, seed=0)
    assert exact == (1.0, 1.0, 1.0, 1.0)
    on_data = bootstrap_intervals(flagged, positive, resamples=200, seed=0, data_flagged=np.ones(150, bool),
                                  native=100.0)  # 0.75 x 100 / 150 = 0.5
    assert on_data[0] < 0.5 < on_data[1]


def test_cross_fit_never_predicts_a_row_with_a_model_fitted_on_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    positive = x[:, 0] > 1.0
    probs = cross_fit(x, positive, np.repeat([0, 1], 100), seed=0)
    assert probs[positive].mean() > 0.5 > probs[~positive].mean()
    alone = cross_fit(x, positive, np.zeros(200), seed=0)  # one copy: 5 seeded folds
    assert alone[positive].mean() > 0.5 > alone[~positive].mean()


def test_verdicts_in_order_of_precedence():
    verdicts = assign_verdicts(np.array([0.9, 0.9, 0.1, 0.1, 0.1]), 0.5, np.array([0.9, 0.1, 0.9, 0.1, 0.1]), 0.5,
                               np.array([True, False, True, True, False]))
    assert verdicts.tolist() == ["label_error", "label_error", "outlier", "hard", "easy"]
    assert assign_verdicts(np.array([0.1]), 0.5, None, 0.5, np.array([False])).tolist() == ["easy"]


def test_suggested_label_is_never_the_given_one():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.1, 0.4]])
    suggested, probability = suggest_labels(probs, np.array([0, 2, 1]))
    assert suggested.tolist() == [1, 1, 0] and probability.tolist() == [0.2, 0.3, 0.5]


DIAGNOSIS = pd.DataFrame({"original_index": [7, 3, 5, 1], "verdict": ["label_error", "outlier", "hard", "easy"],
                          "suggested_label": [4, -1, -1, -1]})


def test_export_keeps_chosen_verdicts_and_plans_drops_or_relabels():
    assert parse_verdicts("label_error, outlier") == ("label_error", "outlier") and parse_verdicts(None) is None
    with pytest.raises(UserError, match="unknown verdict wrong; choose from: label_error, outlier, hard, easy"):
        parse_verdicts("label_error,wrong")
    assert keep_verdicts(DIAGNOSIS, ("outlier", "label_error"))["original_index"].tolist() == [3, 7]
    assert len(keep_verdicts(DIAGNOSIS, None)) == 4
    keep, relabel = plan_clean(DIAGNOSIS, None, relabel=False)
    assert keep.tolist() == [1, 5] and relabel == {}
    keep, relabel = plan_clean(DIAGNOSIS, None, relabel=True)
    assert keep.tolist() == [1, 5, 7] and relabel == {7: 4}
    keep, _ = plan_clean(DIAGNOSIS, ("hard",), relabel=True)
    assert keep.tolist() == [1, 3, 7]
