"""How well an identifier's scores rank the flipped labels first (pure): AUROC and AUPRC per seed.

A set-only identifier ranks by its 0/1 hard mask. With nothing flipped (or everything) the measures do not exist and
nothing is returned, like the recall and precision of `hardness.studies.common.metrics.score_label_noise`.
"""

from __future__ import annotations

import torch

from hardness.tracking import schema


def ranking_scores(scores: torch.Tensor | None, hard: torch.Tensor | None) -> torch.Tensor:
    """What ranks the samples [K, N]: the scores (higher = harder), or a set-only identifier's hard masks as 0/1."""
    return scores if scores is not None else hard.float()


def score_noise_ranking(scores: torch.Tensor, flipped: torch.Tensor) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of scores [N] against flipped [N] bool; empty unless both classes occur."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if bool(flipped.all()) or not bool(flipped.any()):
        return {}
    truth, ranked = flipped.cpu().numpy(), scores.double().cpu().numpy()
    return {schema.NOISE_AUROC: float(roc_auc_score(truth, ranked)),
            schema.NOISE_AUPRC: float(average_precision_score(truth, ranked))}
