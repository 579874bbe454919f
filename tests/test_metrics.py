"""Metrics against hand-computed confusion examples and against scikit-learn row by row."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from hardness.studies.common.metrics import compute_class_accuracy, compute_classification_metrics


def test_hand_computed_example():
    labels = torch.tensor([0, 0, 1, 1])
    predictions = torch.tensor([[0, 1, 1, 1]])
    metrics = compute_classification_metrics(predictions, labels)
    # class 0: precision 1, recall 0.5; class 1: precision 2/3, recall 1
    assert metrics["acc"][0] == 0.75
    assert metrics["precision"][0] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["recall"][0] == pytest.approx(0.75)
    assert metrics["f1"][0] == pytest.approx((2 / 3 + 0.8) / 2)


def test_macro_averages_only_over_classes_present_in_the_test_set():
    labels = torch.tensor([0, 0, 1, 1])
    predictions = torch.tensor([[0, 2, 1, 1]])  # class 2 is predicted but absent from this test set
    metrics = compute_classification_metrics(predictions, labels)
    # class 0: precision 1, recall 1/2, F1 2/3; class 1: precision 1, recall 1, F1 1; class 2 not averaged
    assert metrics["acc"][0] == 0.75
    assert metrics["precision"][0] == pytest.approx(1.0)
    assert metrics["recall"][0] == pytest.approx(0.75)
    assert metrics["f1"][0] == pytest.approx((2 / 3 + 1) / 2)


def test_every_metric_matches_sklearn_row_by_row():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (40,), generator=generator)
    predictions = torch.randint(0, 5, (4, 40), generator=generator)
    metrics = compute_classification_metrics(predictions, labels)
    assert set(metrics) == {"acc", "precision", "recall", "f1"}
    for k in range(4):
        precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions[k], labels=[0, 1, 2],
                                                                   average="macro", zero_division=0)
        assert metrics["acc"][k] == pytest.approx(accuracy_score(labels, predictions[k]))
        mine = (metrics["precision"][k], metrics["recall"][k], metrics["f1"][k])
        assert mine == pytest.approx((precision, recall, f1))


def test_empty_test_set_gives_nan_and_no_models_gives_empty_arrays():
    metrics = compute_classification_metrics(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert all(np.isnan(values).all() and len(values) == 2 for values in metrics.values())
    metrics = compute_classification_metrics(torch.zeros(0, 3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    assert all(values.shape == (0,) for values in metrics.values())


def test_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 1])
    predictions = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 0, 0, 0]])
    accuracy = compute_class_accuracy(predictions, labels, 3)
    assert accuracy.shape == (2, 3)
    assert np.allclose(accuracy[:, :2], [[0.5, 2 / 3], [1.0, 0.0]]) and np.isnan(accuracy[:, 2]).all()


def test_class_accuracy_matches_a_loop():
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 4, (50,), generator=generator)
    predictions = torch.randint(0, 4, (3, 50), generator=generator)
    accuracy = compute_class_accuracy(predictions, labels, 4)
    for k in range(3):
        for c in range(4):
            members = labels == c
            assert accuracy[k, c] == pytest.approx(float((predictions[k, members] == c).double().mean()))
