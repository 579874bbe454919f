"""How well an identifier finds injected samples: pure measures over scores, hard sets and the injected mask.

Ranking: AUROC and average precision (sklearn; AP is the step-wise area, not interpolated), and the precision of
the m highest scores where m is the number injected (ties at the cut count in proportion, the expectation over tie
orders). Hard set: the share of the injected samples it holds (recall) and the share of it that is injected
(precision). Per seed, and for the ensemble of the seeds: the mean score (for a set identifier, the fraction of seeds
that flag a sample) and the samples flagged by at least half of the seeds.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from hardness.tracking import schema
from hardness.studies.common.scoring import ranking_scores


def precision_at_count(scores: torch.Tensor, truth: torch.Tensor, count: int) -> float:
    """Share of injected samples (truth [N] bool) among the `count` highest scores [N]; a tie at the cut counts each
    tied sample by the share of the tied group that fits above it."""
    cut = torch.sort(scores, descending=True).values[count - 1]
    above, tied = scores > cut, scores == cut
    room = count - int(above.sum())
    hits = float((above & truth).sum()) + room * float((tied & truth).sum()) / float(tied.sum())
    return hits / count


def score_detection(scores: torch.Tensor, hard: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """The DETECT_MEASURES of one ranking scores [N] (higher = more likely injected) and hard set [N] bool against the
    injected mask truth [N] bool (which holds injected and clean samples), plus hard_count."""
    target, ranking = truth.numpy(), scores.double().numpy()
    caught = float((hard & truth).sum())
    return {
        "auroc": float(roc_auc_score(target, ranking)),
        "auprc": float(average_precision_score(target, ranking)),
        "precision_at_m": precision_at_count(scores, truth, int(truth.sum())),
        "hard_recall": caught / float(truth.sum()),
        "hard_precision": caught / float(hard.sum()) if bool(hard.any()) else math.nan,
        "hard_count": float(hard.sum()),
    }


def build_detection_rows(scores: torch.Tensor | None, hard: torch.Tensor, kept: torch.Tensor,
                         truth: torch.Tensor) -> pd.DataFrame:
    """One row per kept model (scope seed, its index in `seed`) and one for the ensemble (scope ensemble, seed -1):
    scores [K, N] (None: the hard masks rank, a set identifier), hard [K, N] bool, kept [K] bool, truth [N] bool."""
    ranking = ranking_scores(scores, hard).double()[kept]
    hard = hard[kept]
    seeds = kept.nonzero().flatten().tolist()
    rows = [{"scope": schema.SCOPE_SEED, "seed": k, **score_detection(ranking[i], hard[i], truth)}
            for i, k in enumerate(seeds)]
    if seeds:
        majority = hard.double().mean(0) >= 0.5
        rows.append({"scope": schema.SCOPE_ENSEMBLE, "seed": -1,
                     **score_detection(ranking.mean(0), majority, truth)})
    return pd.DataFrame(rows, columns=["scope", "seed", *schema.DETECT_MEASURES, "hard_count"])


def summarise_unit(table: pd.DataFrame) -> dict[str, float]:
    """Metrics of one detect unit from its rows [identifier, scope, seed, measures...]: per identifier and measure
    the ensemble's value and the mean and std (ddof=0) over seeds; undefined values left out."""
    metrics = {}
    for name, rows in table.groupby("identifier", sort=False):
        ensemble, seeds = rows[rows["scope"] == schema.SCOPE_ENSEMBLE], rows[rows["scope"] == schema.SCOPE_SEED]
        for measure in schema.DETECT_MEASURES:
            values = {None: ensemble[measure].mean(), schema.SEED_MEAN: seeds[measure].mean(),
                      schema.SEED_STD: seeds[measure].std(ddof=0)}
            metrics |= {schema.detect_metric(measure, name, statistic): float(value)
                        for statistic, value in values.items() if pd.notna(value)}
    return metrics


def build_summary(table: pd.DataFrame, measure: str = "auroc") -> pd.DataFrame:
    """The ensemble's `measure` per identifier (rows, in order of appearance) and injection type (columns), mean over
    rates, with a last column `mean` over the types."""
    ensemble = table[table["scope"] == schema.SCOPE_ENSEMBLE]
    pivot = ensemble.pivot_table(index="identifier", columns=schema.INJECTION_PARAM, values=measure, aggfunc="mean",
                                 sort=False)
    pivot = pivot[list(dict.fromkeys(ensemble[schema.INJECTION_PARAM]))]
    pivot["mean"] = pivot.mean(axis=1)
    return pivot.reset_index().rename_axis(columns=None)
