"""The diagnosis's figures (pure matplotlib): a verdict's precision-recall curve on the injected copies, out of
sample, with its target precision and the operating point its threshold chose."""

from __future__ import annotations

from matplotlib.figure import Figure

from hardness.studies.diagnose.diagnosis import Curve


def plot_precision_recall(verdict: str, curve: Curve, target: float) -> Figure:
    """Precision against recall of `verdict` (label_error's precision is the data's, decision.py),
    the target as a dashed line and the chosen point as a dot."""
    figure = Figure(figsize=(5, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(curve.recall, curve.precision, drawstyle="steps-post", label="calibration (out of sample)")
    axes.axhline(target, linestyle="--", color="grey", label=f"target precision {target:g}")
    point = curve.point
    axes.plot([point.recall], [point.precision], "o", color="C3",
              label=f"threshold {point.threshold:.3f}: P {point.precision:.2f}, R {point.recall:.2f}")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=f"{verdict} on injections")
    axes.legend(loc="lower left", fontsize="small")
    return figure
