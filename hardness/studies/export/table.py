"""The export table (pure): one row per sample with each identifier's mean score over seeds and the fraction of
seeds flagging it (`agreement`), and the ranking of the hardest samples per class. numpy and pandas in and out.

Rows follow the samples table of the run (hardness.studies.common.tables.build_sample_table); identifiers' verdicts come as masks
[K, N] over the K models kept (not diverged), aligned with those rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SAMPLE_COLUMNS = ("original_index", "path", "label", "class_name", "clean_label")
SCORE, AGREEMENT = "_score", "_agreement"
INVERSION_EPOCH = "inversion_epoch"
MAJORITY = 0.5
"""Agreement at which a sample counts as flagged when no --min-agreement is given (--clean-out)."""


@dataclass(frozen=True)
class Flags:
    """One identifier's verdicts on N samples by K models: hard masks [K, N] and, for a score identifier, scores
    [K, N] (higher = harder)."""

    hard: np.ndarray
    scores: np.ndarray | None = None


def agreement_column(name: str) -> str:
    return f"{name}{AGREEMENT}"


def score_column(name: str) -> str:
    return f"{name}{SCORE}"


def build_export_table(samples: pd.DataFrame, flags: dict[str, Flags], *,
                       inversion: np.ndarray | None = None) -> pd.DataFrame:
    """The samples' columns (clean_label only when label noise changed some), then per identifier <name>_score (mean
    over models) and <name>_agreement (share of models flagging the sample), then the inversion epoch of the sample's
    class (inversion [C], mean over models) when given; rows in original-index order."""
    columns = [c for c in SAMPLE_COLUMNS if c in samples]
    if "clean_label" in samples and (samples["clean_label"] == samples["label"]).all():
        columns.remove("clean_label")
    table = samples[columns].reset_index(drop=True)
    for name, found in flags.items():
        if found.scores is not None:
            table[score_column(name)] = found.scores.mean(0)
        table[agreement_column(name)] = found.hard.mean(0)
    if inversion is not None:
        table[INVERSION_EPOCH] = inversion[table["label"].to_numpy()]
    return table.sort_values("original_index", kind="stable").reset_index(drop=True)


def identifiers_of(table: pd.DataFrame) -> list[str]:
    """The identifiers an export table holds, in column order."""
    return [c.removesuffix(AGREEMENT) for c in table.columns if c.endswith(AGREEMENT)]


def compute_agreement(table: pd.DataFrame) -> pd.Series:
    """Per sample the largest agreement over the table's identifiers."""
    return table[[agreement_column(name) for name in identifiers_of(table)]].max(axis=1)


def keep_agreeing(table: pd.DataFrame, min_agreement: float | None) -> pd.DataFrame:
    """The rows flagged by at least `min_agreement` of the models of some identifier (every row when None)."""
    if min_agreement is None:
        return table
    return table[compute_agreement(table) >= min_agreement].reset_index(drop=True)


def find_flagged(table: pd.DataFrame, min_agreement: float | None) -> np.ndarray:
    """Original indices of the samples flagged by at least `min_agreement` (MAJORITY when None) of the models of some
    identifier, and by one model at least."""
    agreement = compute_agreement(table)
    threshold = MAJORITY if min_agreement is None else min_agreement
    return table.loc[(agreement >= threshold) & (agreement > 0), "original_index"].to_numpy()


def rank_hardest(table: pd.DataFrame, name: str, per_class: int) -> pd.DataFrame:
    """Up to `per_class` samples of each class that identifier `name` flags, hardest first (highest agreement, then
    highest mean score, then lowest original index), with their `rank` in the class (0 = hardest)."""
    agreement, score = agreement_column(name), score_column(name)
    flagged = table[table[agreement] > 0]
    keys = [agreement, *([score] if score in table else []), "original_index"]
    ordered = flagged.sort_values(["label", *keys], ascending=[True, *[False] * (len(keys) - 1), True], kind="stable")
    ranked = ordered.groupby("label", sort=True).head(per_class)
    return ranked.assign(rank=ranked.groupby("label").cumcount()).reset_index(drop=True)


def flags_from_tables(samples: pd.DataFrame, flagged: dict[int, pd.Series],
                      scores: pd.DataFrame | None = None) -> Flags:
    """Flags aligned with `samples` rows from logged tables: the original indices each model flagged ({model: ids}),
    and a scores table (original_index, seed_<k> for the same models) when the identifier scores."""
    positions = pd.Index(samples["original_index"])
    hard = np.zeros((len(flagged), len(samples)), dtype=bool)
    for row, ids in enumerate(flagged.values()):
        found = positions.get_indexer(ids)
        hard[row, found[found >= 0]] = True  # an id outside the samples table cannot be a row of the export
    if scores is None:
        return Flags(hard)
    aligned = scores.set_index("original_index").reindex(positions)
    return Flags(hard, aligned[[f"seed_{k}" for k in flagged]].to_numpy(dtype=float).T)
