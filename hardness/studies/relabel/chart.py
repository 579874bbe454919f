"""The figure of what a fix buys (pure matplotlib): mean test accuracy per test part and arm, 95% intervals as bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hardness.studies.relabel.measure import ARMS
from hardness.tracking import schema

COLOURS = {"original": "#7f7f7f", "corrected": "#2ca02c", "dropped": "#1f77b4"}


def plot_fix(summary: pd.DataFrame, *, reference: str):
    """Grouped bars: one group per test part (all, hard, easy), one bar per arm with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / len(ARMS)
    for k, arm in enumerate(ARMS):
        rows = summary[summary["arm"] == arm].set_index("part").reindex(schema.TEST_PARTS)
        positions = np.arange(len(schema.TEST_PARTS)) + (k - (len(ARMS) - 1) / 2) * width
        errors = [rows["acc_mean"] - rows["acc_ci_low"], rows["acc_ci_high"] - rows["acc_mean"]]
        axes.bar(positions, rows["acc_mean"], width, yerr=np.nan_to_num(errors), capsize=3, label=arm,
                 color=COLOURS[arm])
    axes.set_xticks(np.arange(len(schema.TEST_PARTS)), [f"{part} test samples" for part in schema.TEST_PARTS])
    low = float(np.nanmin(summary["acc_ci_low"].fillna(summary["acc_mean"])))
    axes.set_ylim(max(0.0, low - 0.05), 1.0)
    axes.set_ylabel(f"test accuracy (against {reference} labels)")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure
