"""The report's figures: pure matplotlib builders, tidy frames in, a Figure out (nothing saved, no pyplot).

Every figure is drawn under one house style (STYLE, colour-blind-safe PALETTE); every error bar or band is ± 1 std
across seeds or hard sets, as the summaries of `aggregate` give it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from hardness.studies.report.aggregate import (
    ACC,
    ALL,
    ALL_RATES,
    CLASS_ERROR,
    COUNT_COLUMNS,
    DETECT_MEASURE,
    EASY,
    HARD,
    format_p,
    summarise_search,
)
from hardness.tracking import schema

MEASURE_LABELS = dict(zip(schema.MEASURES, ("accuracy", "precision (macro)", "recall (macro)", "F1 (macro)")))
PART_TITLES = dict(zip(schema.TEST_PARTS, ("all test samples", "hard test samples", "easy test samples")))
# Okabe-Ito: distinguishable with colour-blindness and in greyscale print; yellow last (weak on white)
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.title_fontsize": 8,
    "figure.titlesize": 10.5, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.35, "grid.linewidth": 0.5, "lines.linewidth": 1.5, "lines.markersize": 4,
    "errorbar.capsize": 2.5, "axes.prop_cycle": cycler(color=PALETTE), "legend.frameon": False,
    "savefig.dpi": 200, "pdf.fonttype": 42, "ps.fonttype": 42,  # TrueType fonts in PDFs, as journals ask
}


def styled(builder: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under the one house style (STYLE), without touching global matplotlib state."""
    @functools.wraps(builder)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            return builder(*args, **kwargs)
    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, *, panel: tuple[float, float] = (3.0, 2.4), **kwargs):
    """A Figure on the Agg canvas (no pyplot, nothing to close) and its axes as a 2-D array."""
    figure = Figure(figsize=(max(4.8, panel[0] * ncols), panel[1] * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=False, **kwargs)


def _std(values: pd.Series) -> np.ndarray:
    return values.fillna(0).to_numpy()  # a single seed has no spread: draw no bar rather than drop the point


def _bottom_legend(figure: Figure, handles: list, labels: list[str], *, title: str | None = None) -> None:
    """One legend under the panels, in as many columns as the figure's width holds (rows otherwise)."""
    entry = 0.55 + 0.075 * max(len(label) for label in labels)  # inches: handle, padding, text at 8 pt
    ncols = max(1, min(len(labels), int(figure.get_figwidth() / entry)))
    figure.legend(handles, labels, loc="outside lower center", ncols=ncols, title=title)


def _hide_unused(axes: np.ndarray, used: int, xlabel: str) -> None:
    """Hide panels past `used`; the panel above a hidden one gets the x tick labels and label back."""
    nrows, ncols = axes.shape
    for index in range(used, nrows * ncols):
        row, col = divmod(index, ncols)
        axes[row, col].set_visible(False)
        if row > 0:
            axes[row - 1, col].xaxis.set_tick_params(labelbottom=True)
            axes[row - 1, col].set_xlabel(xlabel)


@styled
def plot_radii(curves: pd.DataFrame, classes: pd.DataFrame, *, title: str, warmup: int | None = None) -> Figure:
    """One panel per class: radius mean ± std over epochs across seeds, the inversion epoch (mean ± std) marked."""
    names = sorted(curves["class"].unique())
    ncols = min(5, len(names))
    nrows = math.ceil(len(names) / ncols)
    figure, axes = new_figure(nrows, ncols, panel=(2.45, 1.95), sharex=True)
    inversions = classes.set_index("class")
    line, band = PALETTE[0], PALETTE[1]
    for ax, name in zip(axes.flat, names):
        curve = curves[curves["class"] == name]
        mean, std = curve["radius_mean"].to_numpy(), _std(curve["radius_std"])
        ax.fill_between(curve["epoch"], mean - std, mean + std, color=line, alpha=0.25, lw=0, label="± 1 std")
        ax.plot(curve["epoch"], mean, color=line, label="mean radius")
        first, last = curve["epoch"].min(), curve["epoch"].max()
        if warmup:
            ax.axvspan(first, warmup, color="0.5", alpha=0.15, lw=0, label="warm-up (not checked)")
        title_text = f"class {name}"
        if name in inversions.index and inversions.loc[name, "n_inverted"] > 0:
            row = inversions.loc[name]
            epoch, spread = row["inversion_epoch_mean"], np.nan_to_num(row["inversion_epoch_std"])
            ax.axvspan(max(first, epoch - spread), min(last, epoch + spread), color=band, alpha=0.18, lw=0,
                       label="inversion epoch ± std")
            ax.axvline(epoch, color=band, ls="--", lw=1.2, label="mean inversion epoch")
            if row["n_inverted"] < row["n_models"]:
                title_text += f" ({row['n_inverted']:.0f}/{row['n_models']:.0f} inverted)"
        elif name in inversions.index:
            title_text += " (never inverted)"
        ax.set_title(title_text)
        ax.set_xlim(first, last)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("radius $R_c$")
    _hide_unused(axes, len(names), "epoch")
    handles = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}
    _bottom_legend(figure, list(handles.values()), list(handles))
    figure.suptitle(title)
    return figure


@styled
def plot_class_stragglers(long: pd.DataFrame, *, title: str) -> Figure:
    """Two panels per class, straggler count and inversion epoch: the mean across seeds (bar) and each seed (dot)."""
    figure, axes = new_figure(1, 2, panel=(3.6, 2.6))
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(long))
    for ax, value, label in ((axes[0, 0], "stragglers", "stragglers"), (axes[0, 1], "inversion_epoch", "inversion epoch")):
        means = long.groupby("class")[value].mean()
        ax.bar(means.index, means.to_numpy(), color=PALETTE[0], alpha=0.55, width=0.7, label="mean over seeds")
        ax.scatter(long["class"] + jitter, long[value], s=7, color="0.15", alpha=0.7, lw=0, label="one seed")
        ax.set_xticks(means.index)
        ax.set_xlabel("class")
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    _bottom_legend(figure, handles, labels)
    figure.suptitle(title)
    return figure


def _dodge(index: int, count: int, span: float) -> float:
    """A small x offset so error bars of lines at the same x do not hide each other."""
    return (index - (count - 1) / 2) * 0.012 * span


def _fraction_label(reduce: str) -> str:
    return f"fraction of {reduce} training samples kept"


@styled
def plot_grid(summary: pd.DataFrame, *, measures: Sequence[str], reduce: str, title: str) -> Figure:
    """Rows = measures, columns = all / hard / easy test samples; one line per train ratio, ± std error bars."""
    measures = [m for m in measures if f"{schema.part_metric(m, ALL)}_mean" in summary]
    figure, axes = new_figure(len(measures), len(schema.TEST_PARTS), panel=(3.0, 2.3), sharey="row", sharex=True)
    ratios = sorted(summary["train_ratio"].unique(), reverse=True)
    span = float(np.ptp(summary["remaining"])) or 1.0
    for row, measure in enumerate(measures):
        for col, part in enumerate(schema.TEST_PARTS):
            ax, value = axes[row, col], schema.part_metric(measure, part)
            for i, ratio in enumerate(ratios):
                line = summary[summary["train_ratio"] == ratio].sort_values("remaining")
                ax.errorbar(line["remaining"] + _dodge(i, len(ratios), span), line[f"{value}_mean"],
                            yerr=_std(line[f"{value}_std"]), marker="o", color=PALETTE[i % len(PALETTE)],
                            label=f"{ratio:g}")
            if row == 0:
                ax.set_title(PART_TITLES[part])
            if col == 0:
                ax.set_ylabel(MEASURE_LABELS[measure])
            if row == len(measures) - 1:
                ax.set_xlabel(_fraction_label(reduce))
    n_sets = int(summary["n"].max())
    handles, labels = axes[0, 0].get_legend_handles_labels()
    _bottom_legend(figure, handles, labels, title=f"train ratio (mean ± std over {n_sets} hard sets)")
    figure.suptitle(title)
    return figure


@styled
def plot_identifiers(summary: pd.DataFrame, *, measures: Sequence[str], reduce: str, title: str) -> Figure:
    """Rows = measures, columns = train ratios; per identifier its easy (solid) and hard (dashed) test curves."""
    measures = [m for m in measures if f"{schema.part_metric(m, HARD)}_mean" in summary]
    ratios = sorted(summary["train_ratio"].unique(), reverse=True)
    names = list(dict.fromkeys(summary["identifier"]))
    figure, axes = new_figure(len(measures), len(ratios), panel=(3.0, 2.3), sharey="row", sharex=True)
    span = float(np.ptp(summary["remaining"])) or 1.0
    for row, measure in enumerate(measures):
        for col, ratio in enumerate(ratios):
            ax = axes[row, col]
            for i, name in enumerate(names):
                line = summary[(summary["identifier"] == name) & (summary["train_ratio"] == ratio)].sort_values("remaining")
                for part, style, marker in ((EASY, "-", "o"), (HARD, "--", "s")):
                    value = schema.part_metric(measure, part)
                    ax.errorbar(line["remaining"] + _dodge(i, len(names), span), line[f"{value}_mean"],
                                yerr=_std(line[f"{value}_std"]), ls=style, marker=marker, color=PALETTE[i % len(PALETTE)],
                                mfc="white" if part == HARD else None)
            if row == 0:
                ax.set_title(f"train ratio {ratio:g}")
            if col == 0:
                ax.set_ylabel(MEASURE_LABELS[measure])
            if row == len(measures) - 1:
                ax.set_xlabel(_fraction_label(reduce))
    handles = [Line2D([], [], color=PALETTE[i % len(PALETTE)], lw=6) for i in range(len(names))]
    handles += [Line2D([], [], color="0.2", ls="-", marker="o"),
                Line2D([], [], color="0.2", ls="--", marker="s", mfc="white")]
    labels = [*names, "easy test samples", "hard test samples"]
    n_sets = int(summary["n"].max())
    _bottom_legend(figure, handles, labels, title=f"mean ± std over {n_sets} hard sets")
    figure.suptitle(title)
    return figure


@styled
def plot_gaps(comparison: pd.DataFrame, *, baseline: str | None, title: str, measure: str = ACC) -> Figure:
    """One bar per identifier: the easy-minus-hard gap of `measure` (mean ± std across hard sets), p-values against
    the baseline."""
    metric = schema.gap_metric(measure)
    figure, axes = new_figure(1, 1, panel=(max(3.2, 1.1 * len(comparison) + 1.2), 2.8))
    ax = axes[0, 0]
    x = np.arange(len(comparison))
    means, stds = comparison[f"{metric}_mean"].to_numpy(), _std(comparison[f"{metric}_std"])
    ax.bar(x, means, yerr=stds, color=[PALETTE[i % len(PALETTE)] for i in x], alpha=0.85, width=0.6,
           error_kw={"ecolor": "0.2", "elinewidth": 1})
    if "p_hard_sets" in comparison:
        top = np.nanmax(means + stds)
        tests = zip(comparison["identifier"], comparison["p_cells"], comparison["p_hard_sets"])
        for xi, (name, p_cells, p_sets) in enumerate(tests):
            if name != baseline:
                ax.annotate(f"{format_p(p_cells)} (cells)\n{format_p(p_sets)} (hard sets)", (xi, top), xytext=(0, 4),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5)
        ax.set_ylim(top=top * 1.3 if top > 0 else None)
    ax.set_xticks(x, comparison["identifier"])
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(f"{MEASURE_LABELS[measure]} gap, easy − hard\n(mean ± std over hard sets)")
    ax.set_xlabel("identifier" + (f" (paired t-test against {baseline})" if baseline else ""))
    figure.suptitle(title)
    return figure


@styled
def plot_class_counts(counts: pd.DataFrame, *, title: str) -> Figure:
    """Grouped bars of hard samples per class per identifier, beside the class error rate (line, right axis)."""
    names = [c for c in counts.columns if c not in COUNT_COLUMNS]
    figure, axes = new_figure(1, 1, panel=(max(5.0, 0.55 * len(counts) * max(1, len(names)) / 2 + 2), 3.0))
    ax = axes[0, 0]
    x = np.arange(len(counts))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        ax.bar(x + (i - (len(names) - 1) / 2) * width, counts[name], width=width, color=PALETTE[i % len(PALETTE)],
               alpha=0.85, label=name)
    ax.set_xticks(x, counts["class"])
    ax.set_xlabel("class")
    ax.set_ylabel("hard samples per class\n(mean over hard sets)")
    ax.grid(axis="x", visible=False)
    handles, labels = ax.get_legend_handles_labels()
    if CLASS_ERROR in counts:
        error_ax = ax.twinx()
        error_ax.spines["right"].set_visible(True)
        error_ax.grid(False)
        error_ax.plot(x, counts[CLASS_ERROR], color="0.15", marker="D", lw=1.2, label="class error rate")
        error_ax.set_ylabel("class error rate")
        error_ax.set_ylim(bottom=0)
        more = error_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    _bottom_legend(figure, handles, labels)
    figure.suptitle(title)
    return figure


@styled
def plot_overlap(matrices: dict[str, pd.DataFrame], *, title: str) -> Figure:
    """Annotated heatmaps, one per matrix (rows A, columns B); percentages when values exceed 1."""
    figure, axes = new_figure(1, len(matrices), panel=(3.4, 3.0))
    for ax, (label, matrix) in zip(axes[0], matrices.items()):
        values = matrix.to_numpy(float)
        percent = np.nanmax(values) > 1
        top = 100.0 if percent else 1.0
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top)
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, "-" if np.isnan(value) else (f"{value:.0f}" if percent else f"{value:.2f}"), ha="center",
                    va="center", fontsize=8, color="white" if value > 0.6 * top else "0.1")
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=30, ha="right")
        ax.set_yticks(range(len(matrix.index)), matrix.index)
        ax.grid(False)
        ax.set_xlabel("B")
        ax.set_ylabel("A")
        ax.set_title(label)
        colorbar = figure.colorbar(image, ax=ax, shrink=0.8)
        colorbar.ax.set_title("%" if percent else "", fontsize=8)
    figure.suptitle(title)
    return figure


@styled
def plot_search(trials: pd.DataFrame, objectives: dict[str, bool], *, title: str) -> Figure:
    """Per objective: value of every trial and the best so far; with a hard fraction, objective against it too."""
    with_fraction = schema.HARD_FRACTION in trials and trials[schema.HARD_FRACTION].notna().any()
    first = next(iter(objectives))
    figure, axes = new_figure(1, len(objectives) + with_fraction, panel=(3.4, 2.6))
    for ax, (objective, maximize) in zip(axes[0], objectives.items()):
        history = summarise_search(trials, objective, maximize=maximize)
        complete = history[history["complete"]]
        other = history[~history["complete"] & history[objective].notna()]
        ax.scatter(complete["trial"], complete[objective], s=14, color=PALETTE[0], alpha=0.8, label="complete trial")
        if len(other):
            ax.scatter(other["trial"], other[objective], s=16, marker="x", color="0.55", label="pruned / failed")
        ax.step(history["trial"], history["best_so_far"], where="post", color=PALETTE[1], label="best so far")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{objective} ({'max' if maximize else 'min'}imised)")
    if with_fraction:
        ax = axes[0, -1]
        done = trials[trials["complete"]]
        ax.scatter(done[schema.HARD_FRACTION], done[first], s=14, color=PALETTE[2], alpha=0.8)
        ax.set_xlabel("hard-set fraction")
        ax.set_ylabel(first)
    handles = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}
    _bottom_legend(figure, list(handles.values()), list(handles))
    figure.suptitle(title)
    return figure



@styled
def plot_detection(summary: pd.DataFrame, *, title: str, measure: str = DETECT_MEASURE) -> Figure:
    """Heatmaps, one per `rates` value of summarise_detection: identifiers (rows) x injection types (columns), coloured
    by the mean over seeds (0.5 = chance, white), annotated with the mean and the 95% CI half-width across seeds."""
    panels = list(dict.fromkeys(summary["rates"]))
    names = list(dict.fromkeys(summary["identifier"]))
    types = list(dict.fromkeys(summary[schema.INJECTION_PARAM]))
    figure, axes = new_figure(1, len(panels), panel=(0.75 * len(types) + 1.9, 0.3 * len(names) + 1.0))
    for ax, rates in zip(axes[0], panels):
        rows = summary[summary["rates"] == rates].set_index(["identifier", schema.INJECTION_PARAM])
        cells = pd.MultiIndex.from_product([names, types])
        means = rows[f"{measure}_mean"].reindex(cells).to_numpy(float).reshape(len(names), len(types))
        halves = (rows[f"{measure}_ci_high"] - rows[f"{measure}_mean"]).reindex(cells).to_numpy(float)
        image = ax.imshow(means, cmap="RdBu", vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(means):
            half = halves[i * len(types) + j]
            text = "-" if np.isnan(value) else f"{value:.2f}" + ("" if np.isnan(half) else f"\n±{half:.2f}")
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                    color="white" if not np.isnan(value) and abs(value - 0.5) > 0.35 else "0.1")
        ax.set_xticks(range(len(types)), types, rotation=30, ha="right")
        ax.set_yticks(range(len(names)), names if ax is axes[0, 0] else [])
        ax.grid(False)
        ax.set_title("mean over rates" if rates == ALL_RATES else f"rate {rates}")
    colorbar = figure.colorbar(image, ax=axes[0, -1], shrink=0.8)
    colorbar.set_label(f"{measure.upper()} (mean over seeds; ± 95% CI)")
    figure.suptitle(title)
    return figure


GALLERY_CLASSES = 20
"""At most this many classes (rows) in a gallery figure; its table lists them all."""


@styled
def plot_gallery(gallery: pd.DataFrame, *, title: str) -> Figure:
    """One row per class, its hardest samples left to right (rank 0 first), each titled with its original index, the
    share of seeds flagging it and its mean score; from a gallery table with pixel columns (schema.GALLERY)."""
    channels, height, width = (int(size) for size in str(gallery["image_shape"].iloc[0]).split("x"))
    pixels = gallery[[f"pixel_{i}" for i in range(channels * height * width)]].to_numpy(float) / 255
    images = pixels.reshape(len(gallery), channels, height, width).transpose(0, 2, 3, 1)
    labels = list(dict.fromkeys(gallery["label"]))[:GALLERY_CLASSES]
    ncols = int(gallery["rank"].max()) + 1
    figure, axes = new_figure(len(labels), ncols, panel=(0.95, 1.15))
    agreement = next(c for c in gallery.columns if c.endswith("_agreement"))
    score = agreement.removesuffix("_agreement") + "_score"
    for ax in axes.flat:  # frameless, but with a y label the layout makes room for
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.spines[:].set_visible(False)
    for row, label in enumerate(labels):
        rows = gallery[gallery["label"] == label]
        name = rows["class_name"].iloc[0] if "class_name" in rows else label
        for position, sample in zip(rows.index, rows.itertuples()):
            ax = axes[row, int(sample.rank)]
            image = images[position]
            ax.imshow(image[..., 0] if channels == 1 else image, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
            text = f"#{sample.original_index}\n{getattr(sample, agreement):.0%}"
            if score in gallery:
                text += f" · {getattr(sample, score):.2g}"
            ax.set_title(text, fontsize=6.5)
        axes[row, 0].set_ylabel(str(name), rotation=0, ha="right", va="center")
    figure.suptitle(title)
    return figure
