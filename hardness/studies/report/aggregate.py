"""The report's statistics and display tables: pure pandas over the tidy frames `load` builds.

Conventions used everywhere: `std` is the sample standard deviation (ddof=1) across seeds (or hard sets),
`ci_low`/`ci_high` bound the Student-t 95% confidence interval of the mean.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from hardness.tracking import schema

CONFIDENCE = 0.95
BASELINE = schema.BASELINE_IDENTIFIER
ACC = schema.MEASURES[0]
PRF = schema.MEASURES[1:]  # precision, recall, F1 (macro)
ALL, HARD, EASY = schema.TEST_PARTS
GAP = schema.gap_metric(ACC)
GRID_KEYS = [schema.TRAIN_RATIO_PARAM, schema.REMAINING_PARAM]
CELL_KEYS = [schema.HARD_SET_PARAM, *GRID_KEYS]
CLASS_ERROR = "class_error"
COUNT_COLUMNS = ("class", CLASS_ERROR)
"""Columns of the benchmark's class_counts.csv beside one column per identifier."""
HEADLINE_COLUMNS = ["hard_count", f"overlap_with_{BASELINE}", "stability", "pearson_r_class_error", "pearson_p"]
"""Descriptive columns of the benchmark's headline.csv that the identifier comparison carries over."""


# --- intervals and summaries ------------------------------------------------------------------------

def compute_interval(values: Sequence[float], *, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(mean, std ddof=1, ci_low, ci_high) of the non-NaN values; spread and bounds NaN below 2 values."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if len(array) == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(array.mean())
    if len(array) < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(array.std(ddof=1))
    half = std / math.sqrt(len(array)) * float(stats.t.ppf((1 + confidence) / 2, len(array) - 1))
    return mean, std, mean - half, mean + half


def summarise(frame: pd.DataFrame, by: list[str], values: list[str], *, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per group of `by`: n (rows) and <value>_mean, _std (ddof=1), _ci_low, _ci_high (Student t) for each value."""
    grouped = frame.groupby(by, sort=True)
    mean, std, count = grouped[values].mean(), grouped[values].std(ddof=1), grouped[values].count()
    with np.errstate(invalid="ignore", divide="ignore"):
        half = std / np.sqrt(count) * stats.t.ppf((1 + confidence) / 2, count - 1)
    table = pd.DataFrame({"n": grouped.size()})
    for value in values:
        table[f"{value}_mean"] = mean[value]
        table[f"{value}_std"] = std[value]
        table[f"{value}_ci_low"] = mean[value] - half[value]
        table[f"{value}_ci_high"] = mean[value] + half[value]
    return table.reset_index()


def summarise_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Radius curves, long [seed, epoch, class, radius] -> per (class, epoch) mean, std and CI across seeds."""
    return summarise(curves, ["class", "epoch"], ["radius"])


def summarise_classes(long: pd.DataFrame) -> pd.DataFrame:
    """Per class across seeds (long [seed, class, inversion_epoch, stragglers]): inversion epoch (inverted seeds
    only) and straggler counts, with n_models and n_inverted."""
    table = summarise(long, ["class"], ["inversion_epoch", "stragglers"]).rename(columns={"n": "n_models"})
    table.insert(2, "n_inverted", long.groupby("class")["inversion_epoch"].count().to_numpy())
    return table


def grid_metrics(cells: pd.DataFrame) -> list[str]:
    """The metric columns of a cells table that the figures use, in a fixed order."""
    wanted = [schema.part_metric(m, p) for m in schema.MEASURES for p in schema.TEST_PARTS]
    return [m for m in [*wanted, *map(schema.gap_metric, schema.MEASURES)] if m in cells]


def summarise_grid(cells: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Imbalance cells (one row per hard set and grid point) -> per (by..., train ratio, remaining) across hard sets."""
    return summarise(cells, [*by, *GRID_KEYS], grid_metrics(cells))


def summarise_search(trials: pd.DataFrame, objective: str, *, maximize: bool = True) -> pd.DataFrame:
    """Trials [trial, complete, <objective>] sorted by trial, with the best complete value so far."""
    table = trials.sort_values("trial").reset_index(drop=True)
    values = table[objective].where(table["complete"])
    table["best_so_far"] = (values.cummax() if maximize else values.cummin()).ffill()
    return table


# --- comparing identifiers --------------------------------------------------------------------------

def baseline_first(names: Iterable[str], baseline: str = BASELINE) -> list[str]:
    """Names in order of first appearance, the baseline moved first: colours then match across figures."""
    return sorted(dict.fromkeys(names), key=lambda name: name != baseline)


def compare_identifiers(cells: pd.DataFrame, *, metric: str = GAP, baseline: str | None = BASELINE,
                        confidence: float = CONFIDENCE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Identifiers on the same grid: (per identifier, pairs).

    Per identifier: `metric` averaged over the grid per hard set, then mean/std/CI across hard sets, and the
    paired difference to the baseline. Pairs (identifier vs versus, diff = identifier - versus): a paired
    t-test on matched cells (hard set, train ratio, remaining) and one on the per-hard-set means.
    """
    names = baseline_first(cells["identifier"], baseline)
    per_set = cells.groupby(["identifier", schema.HARD_SET_PARAM], as_index=False)[metric].mean()
    table = summarise(per_set, ["identifier"], [metric]).rename(columns={"n": "n_hard_sets"})
    table = table.set_index("identifier").loc[names].reset_index()
    rows = []
    for earlier, later in combinations(names, 2):
        matched = _paired(cells, CELL_KEYS, metric, later, earlier)
        by_set = _paired(per_set, [schema.HARD_SET_PARAM], metric, later, earlier)
        mean, _, low, high = compute_interval(matched["a"] - matched["b"], confidence=confidence)
        t, p = _ttest_rel(matched["a"], matched["b"])
        rows.append({"identifier": later, "versus": earlier, "n_cells": len(matched), "mean_diff": mean,
                     "ci_low": low, "ci_high": high, "t": t, "p_cells": p, "n_hard_sets": len(by_set),
                     "p_hard_sets": _ttest_rel(by_set["a"], by_set["b"])[1]})
    pairs = pd.DataFrame(rows, columns=["identifier", "versus", "n_cells", "mean_diff", "ci_low", "ci_high", "t",
                                        "p_cells", "n_hard_sets", "p_hard_sets"])
    if baseline in names:
        versus = pairs[pairs["versus"] == baseline].set_index("identifier")
        for name, source in (("diff_vs_baseline", "mean_diff"), ("p_cells", "p_cells"), ("p_hard_sets", "p_hard_sets")):
            table[name] = table["identifier"].map(versus[source])
    return table, pairs


def _paired(frame: pd.DataFrame, keys: list[str], metric: str, a: str, b: str) -> pd.DataFrame:
    """Rows of identifiers a and b matched on `keys`: columns keys, a, b (the metric of each); NaN pairs dropped."""
    left = frame[frame["identifier"] == a][[*keys, metric]].rename(columns={metric: "a"})
    right = frame[frame["identifier"] == b][[*keys, metric]].rename(columns={metric: "b"})
    return left.merge(right, on=keys).dropna()


def _ttest_rel(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """scipy's paired t-test; NaN when there are fewer than 2 pairs or the differences do not vary."""
    if len(a) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_rel(a.to_numpy(float), b.to_numpy(float))
    return float(result.statistic), float(result.pvalue)


def build_comparison(gaps: pd.DataFrame, headline: pd.DataFrame | None = None, *, metric: str = GAP,
                     baseline: str = BASELINE) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(per identifier, pairs, baseline used): compare_identifiers on the gap table, with mean accuracies on
    hard / easy test samples and the headline's descriptive columns (hard count, overlap, stability, ...)."""
    names = list(dict.fromkeys(gaps["identifier"]))
    baseline = baseline if baseline in names else names[0]
    table, pairs = compare_identifiers(gaps, metric=metric, baseline=baseline)
    accuracies = [c for c in (schema.part_metric(ACC, HARD), schema.part_metric(ACC, EASY)) if c in gaps]
    table = table.merge(gaps.groupby("identifier", as_index=False)[accuracies].mean(), on="identifier", how="left")
    if headline is not None and "identifier" in headline:
        extra = [c for c in HEADLINE_COLUMNS if c in headline]
        table = table.merge(headline[["identifier", *extra]], on="identifier", how="left")
    return table, pairs, baseline


def order_class_counts(counts: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """class_counts.csv with its identifier columns in baseline_first order (same colour per identifier)."""
    names = baseline_first([c for c in counts.columns if c not in COUNT_COLUMNS], baseline)
    return counts[[c for c in counts.columns if c not in names] + names]


# --- display tables ---------------------------------------------------------------------------------

def format_number(value: object) -> str:
    """4 significant digits for floats (whole numbers from 1e5 on), NaN as '-', anything else as str()."""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def format_p(p: float) -> str:
    """A p-value as text: 'p < 0.001' below that, 'p = -' when undefined."""
    if math.isnan(p):
        return "p = -"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned, 4 significant digits, NaN as '-')."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(escape(c) for c in frame.columns) + " |",
             "| " + " | ".join("---:" if n else ":---" for n in numeric) + " |"]
    lines += ["| " + " | ".join(escape(format_number(v)) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def mean_std_columns(summary: pd.DataFrame, values: list[str], keep: list[str]) -> pd.DataFrame:
    """A display table: `keep` columns, then one 'mean ± std' text column per value."""
    table = summary[keep].copy()
    for value in values:
        table[value] = [f"{format_number(m)} ± {format_number(s)}"
                        for m, s in zip(summary[f"{value}_mean"], summary[f"{value}_std"])]
    return table


def interval_column(summary: pd.DataFrame, value: str) -> list[str]:
    """'[ci_low, ci_high]' text per row of a summarise() table."""
    return [f"[{format_number(lo)}, {format_number(hi)}]"
            for lo, hi in zip(summary[f"{value}_ci_low"], summary[f"{value}_ci_high"])]


def display_classes(classes: pd.DataFrame) -> pd.DataFrame:
    """summarise_classes as text: counts, then mean ± std and the 95% CI of inversion epoch and stragglers."""
    values = ["inversion_epoch", "stragglers"]
    display = mean_std_columns(classes, values, ["class", "n_models", "n_inverted"])
    for value in values:
        display[f"{value} 95% CI"] = interval_column(classes, value)
    return display


def display_comparison(comparison: pd.DataFrame, baseline: str, *, metric: str = GAP) -> pd.DataFrame:
    """build_comparison's table as text: the gap as mean ± std and 95% CI, then the tests and descriptive columns."""
    display = mean_std_columns(comparison, [metric], ["identifier", "n_hard_sets"])
    display["gap 95% CI"] = interval_column(comparison, metric)
    rest = [c for c in comparison.columns if not c.startswith(metric) and c not in display]
    return pd.concat([display, comparison[rest]], axis=1).rename(
        columns={"diff_vs_baseline": f"gap − {baseline}", "p_cells": "p (cells)", "p_hard_sets": "p (hard sets)"})


# --- detection benchmarks ---------------------------------------------------------------------------

DETECT_MEASURE = schema.DETECT_MEASURES[0]
ALL_RATES = "all"
"""`rates` of a detection summary row that averages each seed over every rate before the spread across seeds."""


def summarise_detection(detection: pd.DataFrame, measure: str = DETECT_MEASURE) -> pd.DataFrame:
    """detection.csv -> per (rates, identifier, injection) across seeds: n, <measure>_mean/_std/_ci_low/_ci_high and
    <measure>_ensemble (the ensemble's value). `rates` is ALL_RATES (each seed's mean over the rates first) or one rate
    written with %g; rows in the order rates (all first), identifier (baseline first), injection (as run)."""
    keys, rate = ["identifier", schema.INJECTION_PARAM], schema.RATE_PARAM
    seeds = detection[detection["scope"] == schema.SCOPE_SEED]
    ensemble = detection[detection["scope"] == schema.SCOPE_ENSEMBLE].rename(columns={measure: f"{measure}_ensemble"})
    groups = {ALL_RATES: (seeds.groupby([*keys, "seed"], as_index=False)[measure].mean(), ensemble)}
    groups |= {f"{value:g}": (seeds[seeds[rate] == value], ensemble[ensemble[rate] == value])
               for value in sorted(seeds[rate].unique())}
    table = pd.concat([summarise(per_seed, keys, [measure])
                       .merge(whole.groupby(keys, as_index=False)[f"{measure}_ensemble"].mean(), on=keys, how="left")
                       .assign(rates=label) for label, (per_seed, whole) in groups.items()], ignore_index=True)
    order = {"rates": list(groups), "identifier": baseline_first(detection["identifier"]),
             schema.INJECTION_PARAM: list(dict.fromkeys(detection[schema.INJECTION_PARAM]))}
    table = table.sort_values(list(order), key=lambda column: column.map(order[column.name].index))
    return table[["rates", *[c for c in table.columns if c != "rates"]]].reset_index(drop=True)


def display_detection(summary: pd.DataFrame, measure: str = DETECT_MEASURE) -> pd.DataFrame:
    """One rates value of summarise_detection as identifier (rows) x injection (columns) text: 'mean [ci_low,
    ci_high]' across seeds."""
    text = summary.assign(cell=[f"{format_number(m)} {ci}" for m, ci in
                                zip(summary[f"{measure}_mean"], interval_column(summary, measure))])
    pivot = text.pivot(index="identifier", columns=schema.INJECTION_PARAM, values="cell")
    pivot = pivot.loc[list(dict.fromkeys(summary["identifier"])), list(dict.fromkeys(summary[schema.INJECTION_PARAM]))]
    return pivot.reset_index().rename_axis(columns=None)
