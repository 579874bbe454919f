"""Metrics against a hand-computed confusion example and against scikit-learn row by row."""

import numpy as np
import torch
from sklearn.metrics import f1_score

from hardness.metrics import compute_class_accuracy, compute_classification_metrics


def test_hand_computed_example():
    labels = torch.tensor([0, 0, 1, 1])
    predictions = torch.tensor([[0, 1, 1, 1]])
    metrics = compute_classification_metrics(predictions, labels)
    # class 0: precision 1, recall 0.5; class 1: precision 2/3, recall 1
    assert metrics["acc"][0] == 0.75
    assert np.isclose(metrics["precision"][0], (1 + 2 / 3) / 2)
    assert np.isclose(metrics["recall"][0], 0.75)
    assert np.isclose(metrics["f1"][0], (2 / 3 + 0.8) / 2)


def test_macro_runs_over_classes_present_and_matches_sklearn():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (40,), generator=generator)
    predictions = torch.randint(0, 5, (4, 40), generator=generator)
    metrics = compute_classification_metrics(predictions, labels)
    for k in range(4):
        expected = f1_score(labels, predictions[k], labels=[0, 1, 2], average="macro", zero_division=0)
        assert np.isclose(metrics["f1"][k], expected)


def test_empty_test_set_gives_nan():
    metrics = compute_classification_metrics(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert all(np.isnan(values).all() and len(values) == 2 for values in metrics.values())


def test_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 1])
    predictions = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 0, 0, 0]])
    accuracy = compute_class_accuracy(predictions, labels, 3)
    assert np.allclose(accuracy[:, :2], [[0.5, 2 / 3], [1.0, 0.0]]) and np.isnan(accuracy[:, 2]).all()
