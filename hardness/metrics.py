"""Classification metrics for many models at once: accuracy and macro precision / recall / F1."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import precision_recall_fscore_support


def compute_classification_metrics(predictions: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """{'acc', 'precision', 'recall', 'f1'} -> [K] for predictions [K, M] against labels [M].

    Macro averages run over the classes present in `labels` (a hard test set may lack some classes);
    an empty test set gives NaN.
    """
    k = predictions.shape[0]
    if labels.numel() == 0:
        return {name: np.full(k, np.nan) for name in ("acc", "precision", "recall", "f1")}
    truth = labels.numpy()
    present = np.unique(truth)
    rows = [precision_recall_fscore_support(truth, row.numpy(), labels=present, average="macro", zero_division=0)
            for row in predictions]
    precision, recall, f1, _ = (np.array(column, dtype=float) for column in zip(*rows))
    accuracy = (predictions == labels).double().mean(dim=1).numpy()
    return {"acc": accuracy, "precision": precision, "recall": recall, "f1": f1}


def compute_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Accuracy per class [K, n_classes] (NaN for a class absent from labels)."""
    correct = (predictions == labels).double()
    onehot = torch.nn.functional.one_hot(labels, n_classes).double()
    sizes = onehot.sum(0)
    return (correct @ onehot / sizes).numpy()
