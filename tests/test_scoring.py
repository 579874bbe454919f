"""The one scoring module: ranking and hard-set measures against hand-computed values and their edge cases."""

import math

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from hardness.identifiers import Identification
from hardness.studies.common.scoring import precision_at_count, score_hard_set, score_ranking

SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
TRUTH = torch.tensor([True, False, True, False, False, False])


def test_ranking_matches_hand_computed_values():
    measures = score_ranking(SCORES, TRUTH)
    assert measures["auroc"] == pytest.approx(7 / 8)  # 0.9 beats 4 negatives, 0.7 beats 3: 7 of 8 pairs
    assert measures["auprc"] == pytest.approx((1 + 2 / 3) / 2)  # positives at ranks 1 and 3


def test_ranking_agrees_with_sklearn_on_random_data():
    generator = torch.Generator().manual_seed(3)
    scores, truth = torch.rand(200, generator=generator), torch.rand(200, generator=generator) < 0.2
    measures = score_ranking(scores, truth)
    assert measures["auroc"] == pytest.approx(roc_auc_score(truth.numpy(), scores.numpy()))
    assert measures["auprc"] == pytest.approx(average_precision_score(truth.numpy(), scores.numpy()))


@pytest.mark.parametrize("truth", [torch.zeros(6, dtype=torch.bool), torch.ones(6, dtype=torch.bool)])
def test_ranking_of_a_truth_that_is_all_one_class_does_not_exist(truth):
    assert score_ranking(SCORES, truth) == {}


def test_precision_at_count_counts_ties_at_the_cut_in_proportion():
    assert precision_at_count(SCORES, TRUTH, 2) == pytest.approx(1 / 2)
    scores = torch.tensor([1.0, 0.5, 0.5, 0.5, 0.0])
    truth = torch.tensor([False, True, False, False, True])
    assert precision_at_count(scores, truth, 2) == pytest.approx((0 + 1 / 3) / 2)


def test_hard_set_recall_precision_and_f1_by_hand():
    hard = torch.tensor([True, True, True, False, False, False])
    measures = score_hard_set(hard, TRUTH)
    assert measures["recall"] == pytest.approx(2 / 2) and measures["precision"] == pytest.approx(2 / 3)
    assert measures["f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_hard_set_edge_cases():
    assert score_hard_set(TRUTH, torch.zeros(6, dtype=torch.bool)) == {}
    empty = score_hard_set(torch.zeros(6, dtype=torch.bool), TRUTH)
    assert empty["recall"] == 0 and math.isnan(empty["precision"]) and empty["f1"] == 0
    missed = score_hard_set(~TRUTH, TRUTH)
    assert missed == {"recall": 0.0, "precision": 0.0, "f1": 0.0}


def test_a_set_only_identifier_ranks_by_its_mask():
    hard = torch.tensor([[True, False, True]])
    assert torch.equal(Identification("set", None, hard).ranking, hard.float())
    scores = torch.tensor([[0.1, 0.2, 0.3]])
    assert Identification("scores", scores, None).ranking is scores
