"""One verdict per sample (pure): a diagnose run's own (diagnosis.csv), else hard or easy by the majority of seeds of
any identifier; and the order in which samples are worth a look, hardest first. pandas in and out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hardness.studies.export.table import (
    AGREEMENT,
    MAJORITY,
    SCORE,
    agreement_column,
    compute_agreement,
    identifiers_of,
)
from hardness.tracking.schema import VERDICTS

EASY = "easy"
NO_SUGGESTION = -1
STRAGGLERS = "stragglers"


def build_review_table(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (an export table or a diagnosis table) with `verdict`, `suggested_label` and `straggler` (flagged by
    a majority of the stragglers' models, False when the run has none), in the same row order."""
    review = table.reset_index(drop=True)
    if "verdict" not in review:
        flagged = compute_agreement(review) >= MAJORITY if identifiers_of(review) else pd.Series(False, review.index)
        review["verdict"] = np.where(flagged & (compute_agreement(review) > 0), "hard", EASY)
    if "suggested_label" not in review:
        review["suggested_label"] = NO_SUGGESTION
    review["suggested_label"] = review["suggested_label"].fillna(NO_SUGGESTION).astype(int)
    stragglers = agreement_column(STRAGGLERS)
    review["straggler"] = review[stragglers] >= MAJORITY if stragglers in review else False
    return review


def score_columns(table: pd.DataFrame) -> list[str]:
    """The mean-score columns (<identifier>_score) of a table, in column order."""
    return [c for c in table.columns if c.endswith(SCORE)]


def order_hardest(review: pd.DataFrame) -> np.ndarray:
    """Row positions hardest first: by verdict (VERDICTS order), then estimated precision (diagnose runs), then the
    largest agreement of any identifier, then the mean percentile of the scores, then the original index."""
    keys = pd.DataFrame({"verdict": review["verdict"].map({v: i for i, v in enumerate(VERDICTS)}).fillna(len(VERDICTS)),
                         "index": review["original_index"].to_numpy()})
    keys["precision"] = -review["estimated_precision"].fillna(0) if "estimated_precision" in review else 0.0
    keys["agreement"] = -compute_agreement(review) if any(c.endswith(AGREEMENT) for c in review) else 0.0
    scores = score_columns(review)
    keys["score"] = -review[scores].rank(pct=True).mean(axis=1).fillna(0) if scores else 0.0
    ordered = keys.sort_values(["verdict", "precision", "agreement", "score", "index"], kind="stable")
    return ordered.index.to_numpy()


def pick_gallery(review: pd.DataFrame, per_verdict: int) -> dict[str, list[int]]:
    """Row positions of the `per_verdict` hardest samples of each verdict other than easy that some sample has."""
    order = order_hardest(review)
    verdicts = review["verdict"].to_numpy()[order]
    return {verdict: order[verdicts == verdict][:per_verdict].tolist() for verdict in VERDICTS
            if verdict != EASY and (verdicts == verdict).any()}
