"""`hardness report` on a synthetic MLflow store built here with known values: aggregates, tests, files, run."""

import json
import math
import shutil

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import Config
from hardness.errors import HardnessError
from hardness.studies.report import aggregate, load
from hardness.studies.report.run import run_report
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker

runner = CliRunner()
EXPERIMENT = "synthetic"
T975 = {2: stats.t.ppf(0.975, 2), 1: stats.t.ppf(0.975, 1)}

# --- the planted numbers --------------------------------------------------------------------------
EPOCHS = np.arange(0, 61)
SEED_OFFSETS = [0.0, 0.01, 0.02]  # radius of seed k = base + offset_k: mean base + 0.01, std 0.01
INVERSION = {0: [30, 35, 40], 1: [25, None, 45], 2: [50, 50, 50]}  # None: that seed's class never inverted
STRAGGLERS = {0: [3, 5, 7], 1: [10, 12, 20], 2: [0, 0, 0]}
IDENTIFIERS = ["stragglers", "confidence", "energy"]
RATIOS, FRACTIONS, HARD_SETS = [0.9, 0.5], [0.0, 0.5, 1.0], [0, 1, 2]


def base_radius(epoch, c):
    """Shrinks, then grows again: minimum at epoch 30 + 5c."""
    return 0.5 + 0.3 * ((epoch - 30 - 5 * c) / 40) ** 2


def cell_metrics(identifier, hard_set, ratio, fraction):
    """Known accuracies; the gap of stragglers is larger than confidence's by 0.1 plus a per-cell wobble."""
    shift = {"stragglers": 0.0, "confidence": 0.1, "energy": 0.12}[identifier]
    wobble = 0.01 * ((hard_set * 7 + int(ratio * 10) * 3 + int(fraction * 2)) % 5) * IDENTIFIERS.index(identifier)
    hard = 0.3 + 0.2 * fraction + 0.05 * hard_set + 0.1 * (ratio == 0.9) + shift + wobble
    easy = 0.9 + 0.05 * fraction + 0.01 * hard_set
    metrics = {"acc/hard": hard, "acc/easy": easy, "acc/all": 0.2 * hard + 0.8 * easy, "gap/acc": easy - hard}
    for measure, scale in (("precision", 0.98), ("recall", 0.97), ("f1", 0.96)):
        for part in ("all", "hard", "easy"):
            metrics[f"{measure}/{part}"] = scale * metrics[f"acc/{part}"]
        metrics[f"gap/{measure}"] = metrics[f"{measure}/easy"] - metrics[f"{measure}/hard"]
    return metrics


def build_store(uri):
    """One run of each kind the report reads, logged through Tracker with the schema's names as the studies do."""
    tracker = Tracker(uri, EXPERIMENT)
    ids = {}
    kind = lambda kind: {schema.KIND: str(kind)}  # noqa: E731
    with tracker.run("stragglers-digits-seed0", params={"seeds": 3, "data.name": "digits", schema.WARMUP_CONFIG: 20},
                     tags={**kind(schema.Kind.STRAGGLERS), schema.DATASET: "digits"}) as parent:
        ids["stragglers"] = parent
        for k, offset in enumerate(SEED_OFFSETS):
            with tracker.run(f"seed-{k}", parent_run_id=parent, params={"model.index": k},
                             tags={**kind(schema.Kind.STRAGGLERS), schema.GROUP: parent}) as child:
                wide = pd.DataFrame({"epoch": EPOCHS, **{f"class_{c}": base_radius(EPOCHS, c) + offset for c in range(3)}})
                tracker.log_table(child, wide, schema.RADII_TABLE)
                metrics = {schema.per_class(schema.STRAGGLERS, c): STRAGGLERS[c][k] for c in range(3)}
                metrics |= {schema.per_class(schema.INVERSION_EPOCH, c): INVERSION[c][k] for c in range(3)
                            if INVERSION[c][k] is not None}
                metrics |= {schema.per_class(schema.INVERSION_ATTEMPT, c): 1 for c in range(3)}  # not read: a decoy
                tracker.log_metrics(child, {**metrics, schema.STRAGGLER_COUNT: sum(STRAGGLERS[c][k] for c in range(3))})
    with tracker.run("imbalance-stragglers-digits", params={schema.IDENTIFIER_PARAM: "stragglers"},
                     tags={**kind(schema.Kind.IMBALANCE), schema.IDENTIFIER: "stragglers"}) as grid:
        ids["grid"] = grid
        for h in HARD_SETS:
            for ratio in RATIOS:
                for fraction in FRACTIONS:
                    key = f"h{h}-r{ratio:g}-f{fraction:g}"
                    params = {schema.IDENTIFIER_PARAM: "stragglers", schema.HARD_SET_PARAM: h,
                              schema.TRAIN_RATIO_PARAM: ratio, schema.REMAINING_PARAM: fraction,
                              schema.REDUCE_PARAM: "easy", "inits": 3}
                    with tracker.run(f"cell-{key}", parent_run_id=grid, params=params,
                                     tags={**kind(schema.Kind.IMBALANCE), schema.CELL: key}) as cell:
                        metrics = cell_metrics("stragglers", h, ratio, fraction)
                        tracker.log_metrics(cell, {**metrics, **{f"{k}{schema.STD_SUFFIX}": 0.01 for k in metrics}})
    with tracker.run("benchmark-digits", params={schema.REDUCE_CONFIG: "easy"},
                     tags=kind(schema.Kind.BENCHMARK)) as bench:
        ids["benchmark"] = bench
        gaps = benchmark_gaps()
        tracker.log_table(bench, gaps, schema.GAPS)
        tracker.log_table(bench, pd.DataFrame({"identifier": IDENTIFIERS, "hard_count": [120.0, 120.0, 120.0],
                                               "overlap_with_stragglers": [100.0, 41.5, 38.2],
                                               "stability": [55.0, 80.1, 82.3],
                                               "pearson_r_class_error": [0.8, 0.6, 0.5], "pearson_p": [0.01, 0.07, 0.1]}),
                          schema.HEADLINE)
        counts = pd.DataFrame({"class": range(10), "class_error": np.linspace(0.01, 0.1, 10)})
        for i, name in enumerate(IDENTIFIERS):
            counts[name] = np.arange(10) * (2 + i) + 5.0
        tracker.log_table(bench, counts, schema.CLASS_COUNTS)
        overlap = pd.DataFrame({"identifier": IDENTIFIERS, "stragglers": [100.0, 41.5, 38.2],
                                "confidence": [41.5, 100.0, 90.3], "energy": [38.2, 90.3, 100.0]})
        tracker.log_table(bench, overlap, schema.matrix_table("overlap"))
        jaccard = overlap.assign(**{name: overlap[name] / 200 for name in IDENTIFIERS})
        tracker.log_table(bench, jaccard, schema.matrix_table("jaccard"))
    with tracker.run("search-stragglers", tags={**kind(schema.Kind.SEARCH), schema.STUDY_DIRECTION: "maximize"}) as study:
        ids["search"] = study
        for number, (value, fraction, status) in enumerate(SEARCH_TRIALS):
            params = {"threshold.quantile": round(0.8 + number / 100, 2)}
            tags = {**kind(schema.Kind.SEARCH), schema.TRIAL_NUMBER: number,
                    schema.PRUNED: str(status == "KILLED").lower()}
            trial = tracker.start_run(f"trial-{number}", parent_run_id=study, params=params, tags=tags)
            tracker.log_metrics(trial, {schema.objective_metric("gap"): value, schema.HARD_FRACTION: fraction})
            tracker.end_run(trial, status)
    return ids


SEARCH_TRIALS = [(0.30, 0.10, "FINISHED"), (0.25, 0.05, "FINISHED"), (0.45, 0.12, "FINISHED"),
                 (0.90, 0.01, "KILLED"), (0.40, 0.20, "FINISHED"), (0.50, 0.08, "FINISHED")]


def benchmark_gaps():
    rows = [{"identifier": name, "hard_set": h, "train_ratio": ratio, "remaining": fraction,
             **cell_metrics(name, h, ratio, fraction)}
            for name in IDENTIFIERS for h in HARD_SETS for ratio in RATIOS for fraction in FRACTIONS]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def store(_tracking_template, tmp_path_factory):
    """The synthetic store and one full report of it (building and drawing take seconds: done once)."""
    root = tmp_path_factory.mktemp("report")
    (root / "mlruns").mkdir()
    shutil.copyfile(_tracking_template, root / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    ids = build_store(uri)
    summary = run_report(tracking_uri=uri, experiments=[EXPERIMENT], out=root / "reports")
    return {"uri": uri, "ids": ids, "summary": summary, "out": root / "reports", "root": root}


def _table(store, stem):
    return pd.read_csv(store["out"] / "tables" / f"{stem}.csv")


# --- aggregation: known values -> known aggregates -------------------------------------------------

def test_compute_interval_is_the_student_t_interval():
    values = [1.0, 2.0, 4.0, math.nan]
    mean, std, low, high = aggregate.compute_interval(values)
    expected = stats.t.interval(0.95, 2, loc=np.mean([1, 2, 4]), scale=stats.sem([1, 2, 4]))
    assert mean == pytest.approx(7 / 3) and std == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert (low, high) == pytest.approx(expected)
    assert all(math.isnan(x) for x in aggregate.compute_interval([3.0])[1:])


def test_radii_mean_std_and_ci_across_seeds(store):
    radii = _table(store, f"radii-{store['ids']['stragglers'][:8]}")
    assert len(radii) == 3 * len(EPOCHS) and set(radii["n"]) == {3}
    row = radii[(radii["class"] == 1) & (radii["epoch"] == 10)].iloc[0]
    assert row["radius_mean"] == pytest.approx(base_radius(10, 1) + 0.01)
    assert row["radius_std"] == pytest.approx(0.01)
    half = T975[2] * 0.01 / math.sqrt(3)
    mean = row["radius_mean"]
    assert (row["radius_ci_low"], row["radius_ci_high"]) == pytest.approx((mean - half, mean + half))


def test_inversion_and_straggler_statistics_per_class(store):
    classes = _table(store, f"classes-{store['ids']['stragglers'][:8]}").set_index("class")
    assert classes.loc[0, "inversion_epoch_mean"] == 35 and classes.loc[0, "inversion_epoch_std"] == pytest.approx(5)
    assert classes.loc[0, "inversion_epoch_ci_high"] == pytest.approx(35 + T975[2] * 5 / math.sqrt(3))
    # class 1 inverted in 2 of 3 seeds: statistics over those two only
    assert classes.loc[1, ["n_models", "n_inverted"]].tolist() == [3, 2]
    assert classes.loc[1, "inversion_epoch_mean"] == 35
    assert classes.loc[1, "inversion_epoch_std"] == pytest.approx(np.std([25, 45], ddof=1))
    assert classes.loc[1, "inversion_epoch_ci_low"] == pytest.approx(35 - T975[1] * np.std([25, 45], ddof=1) / math.sqrt(2))
    assert classes.loc[1, "stragglers_mean"] == pytest.approx(14)
    assert classes.loc[1, "stragglers_std"] == pytest.approx(np.std([10, 12, 20], ddof=1))
    assert classes.loc[2, "stragglers_std"] == 0 and classes.loc[2, "stragglers_ci_low"] == 0


def test_imbalance_grid_aggregated_over_hard_sets(store):
    grid = _table(store, f"imbalance-{store['ids']['grid'][:8]}")
    assert len(grid) == len(RATIOS) * len(FRACTIONS) and set(grid["n"]) == {3}
    row = grid[(grid["train_ratio"] == 0.9) & (grid["remaining"] == 0.5)].iloc[0]
    hard = [cell_metrics("stragglers", h, 0.9, 0.5)["acc/hard"] for h in HARD_SETS]
    assert row["acc/hard_mean"] == pytest.approx(np.mean(hard)) and row["acc/hard_mean"] == pytest.approx(0.55)
    assert row["acc/hard_std"] == pytest.approx(0.05)
    assert row["acc/hard_ci_high"] == pytest.approx(0.55 + T975[2] * 0.05 / math.sqrt(3))
    assert row["f1/easy_mean"] == pytest.approx(0.96 * (0.9 + 0.025 + 0.01))


def test_gap_significance_matches_scipy_paired_tests(store):
    gaps = benchmark_gaps()
    keys = ["hard_set", "train_ratio", "remaining"]
    pairs = _table(store, f"significance-{store['ids']['benchmark'][:8]}")
    assert pairs[["identifier", "versus"]].values.tolist() == [["confidence", "stragglers"], ["energy", "stragglers"],
                                                               ["energy", "confidence"]]
    for row in pairs.itertuples():
        a = gaps[gaps["identifier"] == row.identifier].set_index(keys)["gap/acc"]
        b = gaps[gaps["identifier"] == row.versus].set_index(keys)["gap/acc"].loc[a.index]
        expected = stats.ttest_rel(a, b)
        assert row.n_cells == 18
        assert row.t == pytest.approx(expected.statistic) and row.p_cells == pytest.approx(expected.pvalue)
        assert row.mean_diff == pytest.approx((a - b).mean())
        interval = stats.t.interval(0.95, 17, loc=(a - b).mean(), scale=stats.sem(a - b))
        assert (row.ci_low, row.ci_high) == pytest.approx(interval)
        by_set_a, by_set_b = a.groupby("hard_set").mean(), b.groupby("hard_set").mean()
        assert row.p_hard_sets == pytest.approx(stats.ttest_rel(by_set_a, by_set_b).pvalue)
    comparison = _table(store, f"comparison-{store['ids']['benchmark'][:8]}").set_index("identifier")
    assert comparison.index.tolist() == IDENTIFIERS
    assert math.isnan(comparison.loc["stragglers", "p_cells"])
    assert comparison.loc["confidence", "p_cells"] == pytest.approx(pairs["p_cells"].iloc[0])
    assert comparison.loc["confidence", "diff_vs_baseline"] < -0.09  # confidence reveals a smaller gap
    per_set = gaps[gaps["identifier"] == "energy"].groupby("hard_set")["gap/acc"].mean()
    assert comparison.loc["energy", "gap/acc_mean"] == pytest.approx(per_set.mean())
    assert comparison.loc["energy", "gap/acc_std"] == pytest.approx(per_set.std(ddof=1))
    assert comparison.loc["energy", "overlap_with_stragglers"] == pytest.approx(38.2)  # carried over from headline.csv
    markdown = (store["out"] / "tables" / f"comparison-{store['ids']['benchmark'][:8]}.md").read_text()
    assert "p (cells)" in markdown and markdown.count("\n") == 2 + len(IDENTIFIERS)


def test_search_history_best_so_far_skips_pruned_trials(store):
    trials = _table(store, f"trials-{store['ids']['search'][:8]}")
    assert trials["trial"].tolist() == list(range(len(SEARCH_TRIALS)))
    assert trials["best_so_far"].tolist() == pytest.approx([0.30, 0.30, 0.45, 0.45, 0.45, 0.50])
    assert trials["complete"].tolist() == [status == "FINISHED" for *_, status in SEARCH_TRIALS]


def test_markdown_writer():
    frame = pd.DataFrame({"name": ["a|b", "c"], "value": [0.123456, math.nan]})
    assert aggregate.to_markdown(frame) == "| name | value |\n| :--- | ---: |\n| a\\|b | 0.1235 |\n| c | - |\n"


def test_select_runs_keeps_descendants():
    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "tags.mlflow.parentRunId": [None, "a", "b", None]})
    assert load.select_runs(runs, ["a"])["run_id"].tolist() == ["a", "b", "c"]
    assert load.select_runs(runs, None)["run_id"].tolist() == ["a", "b", "c", "d"]
    with pytest.raises(KeyError):
        load.select_runs(runs, ["zz"])


# --- reading runs by the schema's names: planted run rows -----------------------------------------

def test_class_of_inverts_per_class():
    for prefix in (schema.RADIUS, schema.STRAGGLERS, schema.INVERSION_EPOCH):
        for c in (0, 7, 12):
            assert schema.class_of(prefix, schema.per_class(prefix, c)) == c
    assert schema.class_of(schema.STRAGGLERS, schema.STRAGGLER_COUNT) is None
    assert schema.class_of(schema.STRAGGLERS, schema.per_class(schema.STRAGGLERS_MEAN, 1)) is None


def test_seed_classes_reads_only_the_per_class_metrics():
    m = load.metric
    rows = pd.DataFrame({
        m(schema.per_class(schema.INVERSION_EPOCH, 0)): [30.0, 40.0],
        m(schema.per_class(schema.INVERSION_EPOCH, 12)): [5.0, np.nan],
        m(schema.per_class(schema.STRAGGLERS, 0)): [3.0, 4.0],
        # same stems, other metrics: none of these may be read as a class's inversion epoch or straggler count
        m(schema.per_class(schema.INVERSION_EPOCH_MEAN, 0)): [99.0, 99.0],
        m(schema.per_class(schema.INVERSION_ATTEMPT, 0)): [99.0, 99.0],
        m(schema.per_class(schema.STRAGGLERS_MEAN, 0)): [99.0, 99.0],
        m(schema.STRAGGLER_COUNT): [99.0, 99.0],
    })
    long = load.seed_classes(rows).set_index(["class", "seed"])
    assert sorted(long.index.get_level_values("class").unique()) == [0, 12]
    assert long.loc[0, "inversion_epoch"].tolist() == [30, 40] and long.loc[0, "stragglers"].tolist() == [3, 4]
    assert long.loc[12, "inversion_epoch"].tolist()[0] == 5 and long.loc[12, "stragglers"].isna().all()
    assert load.seed_classes(pd.DataFrame({"run_id": ["a"]})).empty


def _rows(rows: list[dict]) -> pd.DataFrame:
    """Run rows in Tracker.find_runs' layout from {run_id, status, kind, parent, cell, ...} shorthands."""
    frame = pd.DataFrame(rows)
    names = {"kind": load.tag(schema.KIND), "parent": load.tag(schema.PARENT_RUN_ID), "cell": load.tag(schema.CELL)}
    return frame.rename(columns=names)


def test_find_sources_sorts_studies_from_their_seeds_trials_and_cells():
    stragglers, imbalance = str(schema.Kind.STRAGGLERS), str(schema.Kind.IMBALANCE)
    benchmark, search = str(schema.Kind.BENCHMARK), str(schema.Kind.SEARCH)
    runs = _rows([
        {"run_id": "s", "status": "FINISHED", "kind": stragglers},
        {"run_id": "s0", "status": "FINISHED", "kind": stragglers, "parent": "s"},
        {"run_id": "g", "status": "FINISHED", "kind": imbalance},
        {"run_id": "g-cell", "status": "FINISHED", "kind": imbalance, "parent": "g", "cell": "h0"},
        {"run_id": "broken", "status": "FAILED", "kind": imbalance},
        {"run_id": "broken-cell", "status": "FAILED", "kind": imbalance, "parent": "broken", "cell": "h0"},
        {"run_id": "b", "status": "FINISHED", "kind": benchmark},
        {"run_id": "b-grid", "status": "FINISHED", "kind": imbalance, "parent": "b"},
        {"run_id": "b-cell", "status": "FINISHED", "kind": imbalance, "parent": "b-grid", "cell": "h0"},
        {"run_id": "q", "status": "FINISHED", "kind": search},
        {"run_id": "q-trial", "status": "KILLED", "kind": search, "parent": "q"},
        {"run_id": "killed", "status": "KILLED", "kind": stragglers},
        {"run_id": "killed-0", "status": "FINISHED", "kind": stragglers, "parent": "killed"},
        {"run_id": "stale", "status": "RUNNING", "kind": benchmark},
    ])
    sources = load.find_sources(runs)
    found = (sources.stragglers, sources.grids, sources.benchmarks, sources.searches)
    assert found == (["s"], ["g", "b-grid"], ["b"], ["q"])
    assert sources.counts() == {"stragglers": 1, "grids": 2, "benchmarks": 1, "searches": 1, "detections": 0,
                                "identifications": 0}


def test_diverged_seeds_are_left_out_of_the_stragglers_section(store):
    tracker = Tracker(store["uri"], EXPERIMENT, must_exist=True)
    runs, parent = tracker.find_runs(), store["ids"]["stragglers"]
    before = load.load_stragglers(tracker, runs, parent)
    seeds = load.children_of(runs, parent)["run_id"].tolist()
    marked = runs.assign(**{load.tag(schema.DIVERGED): runs["run_id"].map({seeds[0]: "true"})})
    after = load.load_stragglers(tracker, marked, parent)
    assert after.per_seed["seed"].nunique() == before.per_seed["seed"].nunique() - 1


def test_cells_from_runs_takes_grid_params_and_means_not_spreads():
    acc = schema.part_metric("acc", "hard")
    runs = pd.DataFrame({
        load.param(schema.IDENTIFIER_PARAM): [None, "energy"], load.tag(schema.IDENTIFIER): ["confidence", "energy"],
        **{load.param(key): ["1", "0"] if key == schema.HARD_SET_PARAM else ["0.5", "0.9"] for key in aggregate.CELL_KEYS},
        load.metric(acc): [0.4, 0.6], load.metric(acc + schema.STD_SUFFIX): [0.01, 0.02],
    })
    cells = load.cells_from_runs(runs)
    assert cells.columns.tolist() == ["identifier", *aggregate.CELL_KEYS, acc]
    assert cells["identifier"].tolist() == ["confidence", "energy"] and cells[acc].tolist() == [0.4, 0.6]
    assert cells[schema.HARD_SET_PARAM].tolist() == [1, 0]


def test_load_search_reads_trial_numbers_pruning_and_direction_from_their_tags():
    objective = schema.objective_metric("gap")
    trials = _rows([
        {"run_id": "t2", "status": "FINISHED", "parent": "q", load.tag(schema.TRIAL_NUMBER): "2",
         load.tag(schema.PRUNED): "false", load.metric(objective): 0.3, load.param("trial_seed"): "7"},
        {"run_id": "t0", "status": "KILLED", "parent": "q", load.tag(schema.TRIAL_NUMBER): "0",
         load.tag(schema.PRUNED): "true", load.metric(objective): 0.1, load.param("trial_seed"): "8"},
        {"run_id": "t1", "status": "FINISHED", "parent": "q", load.tag(schema.TRIAL_NUMBER): "1",
         load.tag(schema.PRUNED): "false", load.metric(objective): 0.2, load.param("trial_seed"): "9"},
    ])
    parent = _rows([{"run_id": "q", "status": "FINISHED", load.tag(schema.STUDY_DIRECTION): "minimize"}])
    search = load.load_search(pd.concat([parent, trials], ignore_index=True), "q")
    assert search.objectives == {objective: False}
    assert search.trials["trial"].tolist() == [2, 0, 1] and search.trials["complete"].tolist() == [True, False, True]
    history = aggregate.summarise_search(search.trials, objective, maximize=False)
    assert history["trial"].tolist() == [0, 1, 2] and history["best_so_far"].tolist()[1:] == [0.2, 0.2]
    assert math.isnan(history["best_so_far"].iloc[0])  # trial 0 was pruned: no best yet
    assert load.load_search(parent, "q") is None


def test_config_keys_the_report_reads_are_logged_by_every_top_level_run():
    flat = Config().flat()
    assert schema.WARMUP_CONFIG in flat and schema.REDUCE_CONFIG in flat


# --- display tables and orderings ------------------------------------------------------------------

def test_baseline_first_keeps_the_order_of_appearance():
    names = ["energy", "confidence", "stragglers", "energy"]
    assert aggregate.baseline_first(names) == ["stragglers", "energy", "confidence"]
    assert aggregate.baseline_first(["energy", "confidence"]) == ["energy", "confidence"]
    counts = pd.DataFrame({"class": [0], "energy": [1.0], "class_error": [0.1], "stragglers": [2.0]})
    assert aggregate.order_class_counts(counts).columns.tolist() == ["class", "class_error", "stragglers", "energy"]


def test_display_classes_shows_mean_std_and_interval():
    long = pd.DataFrame({"seed": [0, 1, 2], "class": 0, "inversion_epoch": [30.0, 35.0, 40.0],
                         "stragglers": [1.0, 1.0, 1.0]})
    display = aggregate.display_classes(aggregate.summarise_classes(long))
    half = T975[2] * 5 / math.sqrt(3)
    row = display.iloc[0]
    assert row["inversion_epoch"] == "35 ± 5" and row["stragglers"] == "1 ± 0"
    assert row["inversion_epoch 95% CI"] == f"[{35 - half:.4g}, {35 + half:.4g}]"
    assert display.columns.tolist()[:3] == ["class", "n_models", "n_inverted"]


def test_display_comparison_renames_the_tests():
    comparison, _, baseline = aggregate.build_comparison(benchmark_gaps())
    display = aggregate.display_comparison(comparison, baseline)
    assert display.columns.tolist()[:4] == ["identifier", "n_hard_sets", aggregate.GAP, "gap 95% CI"]
    assert {"gap − stragglers", "p (cells)", "p (hard sets)"} <= set(display.columns)
    assert not any(c.startswith(f"{aggregate.GAP}_") for c in display.columns)


# --- files and the report run ----------------------------------------------------------------------

FIGURES = ["radii", "classes", "imbalance-acc", "imbalance-prf", "identifiers-acc", "identifiers-prf", "gap",
           "class-counts", "overlap", "search"]


def test_every_figure_is_written_as_png_and_pdf_and_is_not_blank(store):
    written = {path.name for path in (store["out"] / "figures").iterdir()}
    assert len(written) == 2 * len(FIGURES)
    for stem in {f.stem for f in store["summary"].files if f.kind == "figure"}:
        png, pdf = store["out"] / "figures" / f"{stem}.png", store["out"] / "figures" / f"{stem}.pdf"
        assert png.stat().st_size > 30_000 and pdf.stat().st_size > 5_000, stem
        pixels = matplotlib.image.imread(png)[..., :3].mean(axis=2)
        assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.005, f"{stem} looks blank"
    stems = {f.stem for f in store["summary"].files if f.kind == "figure"}
    assert sorted(stem.rsplit("-", 1)[0] for stem in stems) == sorted(FIGURES)


def test_tables_as_csv_and_markdown(store):
    tables = store["out"] / "tables"
    benchmark = store["ids"]["benchmark"][:8]
    assert len(pd.read_csv(tables / f"overlap-{benchmark}.csv")) == 3
    assert pd.read_csv(tables / f"class-counts-{benchmark}.csv").shape == (10, 5)
    runs = pd.read_csv(tables / "runs.csv")
    assert len(runs) == 1 + 3 + 1 + 18 + 1 + 1 + len(SEARCH_TRIALS)
    for item in store["summary"].files:
        if item.kind == "table" and not item.stem.startswith("radii"):
            assert {p.suffix for p in item.paths} == {".csv", ".md"}
            assert (tables / f"{item.stem}.md").read_text().startswith("| ")
    index = (store["out"] / "report.md").read_text()
    assert f"figures/gap-{benchmark}.png" in index and "## Benchmark: benchmark-digits" in index


def test_report_run_holds_every_file_as_an_artifact(store):
    tracker = Tracker(store["uri"], EXPERIMENT, must_exist=True)
    runs = tracker.find_runs("tags.`hardness.kind` = 'report'")
    assert runs["run_id"].tolist() == [store["summary"].report_run_id]
    assert runs["status"].iloc[0] == "FINISHED" and runs["metrics.sources/benchmarks"].iloc[0] == 1
    client = tracker.client
    figures = {a.path for a in client.list_artifacts(store["summary"].report_run_id, "figures")}
    tables = {a.path for a in client.list_artifacts(store["summary"].report_run_id, "tables")}
    assert len(figures) == 2 * len(FIGURES) and f"figures/radii-{store['ids']['stragglers'][:8]}.pdf" in figures
    assert f"tables/comparison-{store['ids']['benchmark'][:8]}.md" in tables
    assert "report.md" in {a.path for a in client.list_artifacts(store["summary"].report_run_id)}


# --- the command -----------------------------------------------------------------------------------

def test_cli_report_of_one_run_and_its_children(store, tmp_path):
    out = tmp_path / "cli-report"
    result = runner.invoke(app, ["report", "--tracking-uri", store["uri"], "--run-id", store["ids"]["grid"],
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sources"] == {"stragglers": 0, "grids": 1, "benchmarks": 0, "searches": 0, "detections": 0,
                                  "identifications": 0}
    assert summary["experiment"] == EXPERIMENT
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"imbalance-{m}-{store['ids']['grid'][:8]}.{ext}" for m in ("acc", "prf") for ext in ("png", "pdf"))


def test_cli_table_lists_the_files(store, tmp_path):
    result = runner.invoke(app, ["report", "--tracking-uri", store["uri"], "--run-id", store["ids"]["search"],
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "figures/search-" in result.stdout and "MLflow report run" in result.stdout


def test_missing_store_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["report", "--tracking-uri", f"sqlite:///{tmp_path}/none/mlflow.db"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: no MLflow store") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none" / "mlflow.db").exists()


@pytest.mark.parametrize("args, message", [
    (["--experiment", "nope"], "experiment 'nope' not found"),
    (["--run-id", "0123456789abcdef"], "not found"),
])
def test_unknown_experiment_or_run_is_a_user_error(store, args, message):
    result = runner.invoke(app, ["report", "--tracking-uri", store["uri"], *args])
    assert result.exit_code == 2 and message in result.stderr


def test_no_runs_is_a_user_error(tracking_uri, tmp_path):
    Tracker(tracking_uri, "empty")
    with pytest.raises(HardnessError, match="no runs of hardness"):
        run_report(tracking_uri=tracking_uri, experiments=["empty"], out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
