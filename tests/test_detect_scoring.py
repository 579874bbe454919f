"""Detection measures against hand-computed values on tiny planted scores; the report's detection summary."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from hardness.studies.detect.measures import (
    build_detection_rows,
    build_summary,
    precision_at_count,
    score_detection,
    summarise_unit,
)
from hardness.studies.report.aggregate import ALL_RATES, display_detection, summarise_detection
from hardness.tracking import schema

SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
TRUTH = torch.tensor([True, False, True, False, False, False])


def test_measures_match_hand_computed_values():
    hard = torch.tensor([True, True, False, False, False, False])
    measures = score_detection(SCORES, hard, TRUTH)
    # AUROC: 0.9 beats all 4 negatives, 0.7 beats 3 of them: 7 of 8 pairs
    assert measures["auroc"] == pytest.approx(7 / 8)
    # AP: positives at ranks 1 and 3, precisions 1/1 and 2/3
    assert measures["auprc"] == pytest.approx((1 + 2 / 3) / 2)
    # m = 2 injected: the top two are 0.9 (injected) and 0.8 (clean)
    assert measures["precision_at_m"] == pytest.approx(1 / 2)
    assert measures["hard_recall"] == pytest.approx(1 / 2) and measures["hard_precision"] == pytest.approx(1 / 2)
    assert measures["hard_count"] == 2


def test_ties_count_half_in_auroc_and_in_proportion_at_the_cut():
    scores = torch.tensor([1.0, 0.5, 0.5, 0.5, 0.0])
    truth = torch.tensor([False, True, False, False, True])
    # m = 2: 1.0 (clean) is in, one of the three tied 0.5s (one injected) fills the second place: 1/3 expected hit
    assert precision_at_count(scores, truth, 2) == pytest.approx((0 + 1 / 3) / 2)
    # AUROC: the injected 0.5 ties two clean 0.5s (half a pair each) and loses to 1.0; the injected 0.0 loses all
    measures = score_detection(scores, torch.zeros(5, dtype=torch.bool), truth)
    assert measures["auroc"] == pytest.approx(1 / 6)
    assert math.isnan(measures["hard_precision"]) and measures["hard_recall"] == 0


def test_a_perfect_ranking_scores_one_everywhere():
    measures = score_detection(TRUTH.double(), TRUTH, TRUTH)
    assert all(measures[m] == 1 for m in schema.DETECT_MEASURES)


def test_rows_per_seed_and_ensemble_for_a_set_identifier():
    truth = torch.tensor([True, True, False, False])
    hard = torch.tensor([[True, True, False, False],   # seed 0: perfect
                         [True, False, True, False],   # seed 1
                         [False, False, False, True]])  # seed 2: left out (diverged)
    kept = torch.tensor([True, True, False])
    rows = build_detection_rows(hard.float(), hard, kept, truth)
    assert rows["scope"].tolist() == ["seed", "seed", "ensemble"] and rows["seed"].tolist() == [0, 1, -1]
    # ensemble score = fraction of kept seeds flagging: [1, 0.5, 0.5, 0]; majority set = [1, 1, 1, 0]
    ensemble = rows.iloc[2]
    assert ensemble["auroc"] == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert ensemble["hard_recall"] == 1 and ensemble["hard_precision"] == pytest.approx(2 / 3)
    assert rows.iloc[0]["auroc"] == 1 and rows.iloc[1]["auroc"] == pytest.approx(0.5)


def test_rows_rank_by_scores_and_the_ensemble_by_their_mean():
    truth = torch.tensor([True, False, False])
    scores = torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    hard = torch.tensor([[True, False, False], [False, False, True]])
    rows = build_detection_rows(scores, hard, torch.tensor([True, True]), truth)
    assert rows["auroc"].tolist() == pytest.approx([1.0, 0.0, 0.5])  # ensemble mean scores [1.5, 1, 2]


def unit_table():
    frames = []
    for name, shift in (("stragglers", 0.0), ("energy", 0.1)):
        rows = build_detection_rows(torch.tensor([[3.0, 1.0, 2.0], [2.0, 3.0, 1.0]]) + shift,
                                    torch.tensor([[True, False, False], [False, True, False]]),
                                    torch.tensor([True, True]), torch.tensor([True, False, False]))
        frames.append(rows.assign(identifier=name))
    return pd.concat(frames, ignore_index=True)


def test_unit_metrics_name_identifier_and_statistic():
    metrics = summarise_unit(unit_table())
    assert metrics[schema.detect_metric("auroc", "energy")] == pytest.approx(1.0)  # mean scores [2.5, 2, 1.5]
    assert metrics[schema.detect_metric("auroc", "energy", schema.SEED_MEAN)] == pytest.approx(0.75)
    assert metrics[schema.detect_metric("auroc", "energy", schema.SEED_STD)] == pytest.approx(0.25)  # ddof 0
    assert len(metrics) == 2 * len(schema.DETECT_MEASURES) * 3


def planted_detection():
    """Two identifiers x two types x two rates x three seeds; seed k's AUROC = base + 0.1 k + 0.05 (rate == 0.2)."""
    rows = []
    for name, base in (("energy", 0.5), ("stragglers", 0.6)):
        for injection, offset in (("uniform", 0.0), ("ood_noise", 0.1)):
            for rate in (0.1, 0.2):
                values = [base + offset + 0.1 * k + 0.05 * (rate == 0.2) for k in range(3)]
                rows += [{"injection": injection, "rate": rate, "identifier": name, "scope": "seed", "seed": k,
                          "auroc": v} for k, v in enumerate(values)]
                rows.append({"injection": injection, "rate": rate, "identifier": name, "scope": "ensemble",
                             "seed": -1, "auroc": max(values)})
    return pd.DataFrame(rows)


def test_report_summary_averages_rates_per_seed_then_spreads_over_seeds():
    summary = summarise_detection(planted_detection())
    assert list(dict.fromkeys(summary["rates"])) == [ALL_RATES, "0.1", "0.2"]
    assert list(dict.fromkeys(summary["identifier"])) == ["stragglers", "energy"]  # the baseline first
    row = summary[(summary["rates"] == ALL_RATES) & (summary["identifier"] == "energy")
                  & (summary["injection"] == "ood_noise")].iloc[0]
    per_seed = [0.6 + 0.1 * k + 0.025 for k in range(3)]
    half = np.std(per_seed, ddof=1) / math.sqrt(3) * stats.t.ppf(0.975, 2)
    assert row["n"] == 3 and row["auroc_mean"] == pytest.approx(np.mean(per_seed))
    assert row["auroc_ci_high"] == pytest.approx(np.mean(per_seed) + half)
    assert row["auroc_ensemble"] == pytest.approx((0.8 + 0.85) / 2)
    at = summary[(summary["rates"] == "0.2") & (summary["identifier"] == "stragglers")].iloc[0]
    assert at["injection"] == "uniform" and at["auroc_mean"] == pytest.approx(0.75)
    display = display_detection(summary[summary["rates"] == ALL_RATES])
    assert list(display.columns) == ["identifier", "uniform", "ood_noise"]
    assert display.iloc[0]["uniform"].startswith("0.725 [")


def test_summary_pivot_is_the_ensemble_mean_over_rates():
    pivot = build_summary(planted_detection()).set_index("identifier")
    assert list(pivot.columns) == ["uniform", "ood_noise", "mean"]
    assert pivot.loc["energy", "uniform"] == pytest.approx((0.7 + 0.75) / 2)
    assert pivot.loc["stragglers", "mean"] == pytest.approx(((0.8 + 0.85) / 2 + (0.9 + 0.95) / 2) / 2)
