"""Classification metrics for many models at once: accuracy and macro precision / recall / F1, class accuracy."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import precision_recall_fscore_support

NAMES = ("acc", "precision", "recall", "f1")


def compute_classification_metrics(predictions: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """{'acc', 'precision', 'recall', 'f1'} -> [K] for predicted classes [K, M] against labels [M].

    Macro averages run over the classes present in `labels` (a hard test set may lack some classes), a class
    never predicted counts as precision 0; an empty test set (M = 0) gives NaN.
    """
    k = predictions.shape[0]
    if labels.numel() == 0:
        return {name: np.full(k, np.nan) for name in NAMES}
    predictions, labels = predictions.cpu(), labels.cpu()
    truth, present = labels.numpy(), np.unique(labels.numpy())
    macro = np.array([precision_recall_fscore_support(truth, row.numpy(), labels=present, average="macro",
                                                      zero_division=0)[:3] for row in predictions],
                     dtype=float).reshape(k, 3)
    accuracy = (predictions == labels).double().mean(dim=1).numpy()
    return {"acc": accuracy, "precision": macro[:, 0], "recall": macro[:, 1], "f1": macro[:, 2]}


def compute_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Accuracy per class [K, n_classes] of predicted classes [K, M] against labels [M] (NaN for an absent class)."""
    correct = (predictions == labels).double()
    hits = torch.zeros(predictions.shape[0], n_classes, dtype=torch.double, device=correct.device)
    hits.scatter_add_(1, labels.expand_as(predictions), correct)
    return (hits / torch.bincount(labels, minlength=n_classes)).cpu().numpy()

