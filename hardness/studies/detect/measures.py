"""How well an identifier finds injected samples, as detect's tables: the measures of
hardness.studies.common.scoring (AUROC, AUPRC, precision at m = the number injected, the hard set's recall and
precision) per seed, and for the ensemble of the seeds: the mean score (for a set identifier, the fraction of seeds
that flag a sample) and the samples flagged by at least half of the seeds.
"""

from __future__ import annotations

import pandas as pd
import torch

from hardness.studies.common.scoring import precision_at_count, score_hard_set, score_ranking
from hardness.tracking import schema


def score_detection(scores: torch.Tensor, hard: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """The DETECT_MEASURES of one ranking scores [N] (higher = more likely injected) and hard set [N] bool against the
    injected mask truth [N] bool, plus hard_count; a measure that does not exist (nothing, or everything, injected)
    is left out."""
    measures = score_ranking(scores, truth)
    if bool(truth.any()):
        hard_set = score_hard_set(hard, truth)
        measures |= {"precision_at_m": precision_at_count(scores, truth, int(truth.sum())),
                     "hard_recall": hard_set["recall"], "hard_precision": hard_set["precision"]}
    return measures | {"hard_count": float(hard.sum())}


def build_detection_rows(ranking: torch.Tensor, hard: torch.Tensor, kept: torch.Tensor,
                         truth: torch.Tensor) -> pd.DataFrame:
    """One row per kept model (scope seed, its index in `seed`) and one for the ensemble (scope ensemble, seed -1):
    ranking [K, N] (Identification.ranking: scores, or a set identifier's masks as 0/1), hard [K, N] bool, kept [K]
    bool, truth [N] bool."""
    ranking = ranking.double()[kept]
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
