"""How well scores and hard sets find a known group of samples (flipped labels, injected hardness): pure measures.

Ranking: AUROC and average precision (sklearn; AP is the step-wise area, not interpolated) of scores (higher = more
likely in the group), and the precision of the `count` highest scores (ties at the cut count in proportion, the
expectation over tie orders). Hard set: the share of the group it holds (recall), the share of it in the group
(precision) and F1 = 2 TP / (2 TP + FP + FN), their harmonic mean where both exist. With a group that is empty (or, for the ranking, every sample) a measure
does not exist and is left out; a hard set that is empty has no precision (NaN).
"""

from __future__ import annotations

import math

import torch


def score_ranking(scores: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """{'auroc', 'auprc'} of scores [N] against truth [N] bool; empty unless truth holds both classes."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if bool(truth.all()) or not bool(truth.any()):
        return {}
    target, ranked = truth.cpu().numpy(), scores.double().cpu().numpy()
    return {"auroc": float(roc_auc_score(target, ranked)), "auprc": float(average_precision_score(target, ranked))}


def precision_at_count(scores: torch.Tensor, truth: torch.Tensor, count: int) -> float:
    """Share of the group (truth [N] bool) among the `count` highest scores [N]; a tie at the cut counts each tied
    sample by the share of the tied group that fits above it."""
    cut = torch.sort(scores, descending=True).values[count - 1]
    above, tied = scores > cut, scores == cut
    room = count - int(above.sum())
    hits = float((above & truth).sum()) + room * float((tied & truth).sum()) / float(tied.sum())
    return hits / count


def score_hard_set(hard: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """{'recall', 'precision', 'f1'} of a hard set [N] bool against truth [N] bool; empty when truth is empty."""
    if not bool(truth.any()):
        return {}
    caught = float((hard & truth).sum())
    return {"recall": caught / float(truth.sum()),
            "precision": caught / float(hard.sum()) if bool(hard.any()) else math.nan,
            "f1": 2 * caught / float(hard.sum() + truth.sum())}
