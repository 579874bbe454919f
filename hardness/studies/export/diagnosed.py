"""A diagnose run's rows for export (pure pandas): the rows of chosen verdicts, and which samples a clean copy drops
or relabels. The diagnosis (schema.DIAGNOSIS) already is one row per sample, so it is the export table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hardness.errors import UserError
from hardness.tracking.schema import VERDICTS

DROPPED = ("label_error", "outlier")
"""The verdicts a clean copy leaves out when --verdict does not say otherwise."""


def parse_verdicts(text: str | None) -> tuple[str, ...] | None:
    """'label_error,outlier' -> ('label_error', 'outlier'); None stays None; an unknown verdict is a UserError."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in VERDICTS]
    if unknown or not names:
        raise UserError(f"unknown verdict {', '.join(unknown) or repr(text)}; choose from: {', '.join(VERDICTS)}")
    return names


def keep_verdicts(table: pd.DataFrame, verdicts: tuple[str, ...] | None) -> pd.DataFrame:
    """The rows whose verdict is one of `verdicts` (every row when None), in original-index order."""
    rows = table if verdicts is None else table[table["verdict"].isin(verdicts)]
    return rows.sort_values("original_index", kind="stable").reset_index(drop=True)


def plan_clean(table: pd.DataFrame, verdicts: tuple[str, ...] | None, relabel: bool) -> tuple[np.ndarray, dict[int, int]]:
    """(original ids a clean copy keeps, {original id: suggested class} it relabels): samples whose verdict is in
    `verdicts` (default DROPPED) are dropped, except that with `relabel` a label_error takes its suggested label."""
    chosen = table["verdict"].isin(verdicts or DROPPED)
    fixed = chosen & (table["verdict"] == "label_error") & relabel
    keep = table.loc[~chosen | fixed, "original_index"].to_numpy()
    rows = table[fixed]
    return np.sort(keep), dict(zip(rows["original_index"].astype(int), rows["suggested_label"].astype(int)))
