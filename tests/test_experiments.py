"""identify / imbalance / benchmark end to end on digits into a temporary store; resume skips finished cells."""

import json

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app

runner = CliRunner()
TINY = ["--subset-size", "300", "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]
GRID = ["--hard-sets", "2", "--inits", "2", "--set", "imbalance.train_ratios=[0.7]",
        "--set", "imbalance.remaining=[0,1]"]


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _children(client, parent):
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiment_ids, f"tags.`mlflow.parentRunId` = '{parent}'")


def test_identify_logs_scores_sets_and_noise_recall(tracking_uri):
    summary = _invoke("identify", "--identifier", "energy", "--seeds", "2", "--tracking-uri", tracking_uri, *TINY,
                      "--set", "data.label_noise=0.1", "--set", "threshold.method=quantile",
                      "--set", "threshold.quantile=0.8")
    counts = pd.DataFrame(summary["counts"]).set_index("class")
    assert counts.loc["total", "seed_0"] == 60 and counts.loc["total", "seed_1"] == 60
    assert {"noise/recall", "noise/precision"} <= set(summary["noise"][0])
    client = MlflowClient(tracking_uri)
    artifacts = {a.path for a in client.list_artifacts(summary["parent_run_id"])}
    assert {"scores.csv", "counts_per_class.csv", "hard_sets", "config.yaml"} <= artifacts
    table = pd.read_csv(client.download_artifacts(summary["parent_run_id"], "hard_sets/seed_0.csv"))
    assert len(table) == 60 and {"original_index", "label", "score"} <= set(table.columns)


def test_identify_like_stragglers_matches_straggler_counts(tracking_uri):
    common = ["--seeds", "2", "--tracking-uri", tracking_uri, *TINY]
    stragglers = _invoke("identify", "--identifier", "stragglers", *common)
    confidence = _invoke("identify", "--identifier", "confidence", *common, "--set", "threshold.level=class")
    assert stragglers["counts"] == confidence["counts"]


def test_imbalance_grid_logs_cells_and_resumes(tracking_uri):
    args = ["imbalance", "--identifier", "stragglers", "--tracking-uri", tracking_uri, *TINY, *GRID]
    first = _invoke(*args)
    assert first["skipped_cells"] == 0 and len(first["cells"]) == 4
    client = MlflowClient(tracking_uri)
    cells = _children(client, first["parent_run_id"])
    assert len(cells) == 4 and all(run.info.status == "FINISHED" for run in cells)
    cell = cells[0]
    assert {"acc/all", "acc/hard", "acc/easy", "f1/hard", "gap/acc", "acc/hard_std"} <= set(cell.data.metrics)
    assert cell.data.metrics["gap/acc"] == pytest.approx(cell.data.metrics["acc/easy"] - cell.data.metrics["acc/hard"])
    split = pd.read_csv(client.download_artifacts(cell.info.run_id, "split.csv"))
    assert set(split["part"]) <= {"train", "test_hard", "test_easy"}
    assert int(cell.data.params["n_train"]) == (split["part"] == "train").sum()
    # an interrupted cell (not FINISHED) is redone, the others are skipped
    client.set_terminated(cell.info.run_id, "KILLED")
    second = _invoke(*args)
    assert second["parent_run_id"] == first["parent_run_id"] and second["skipped_cells"] == 3
    redone = [run for run in _children(client, first["parent_run_id"])
              if run.data.tags["hardness.cell"] == cell.data.tags["hardness.cell"]]
    assert sorted(run.info.status for run in redone) == ["FINISHED", "KILLED"]
    finished = [run for run in redone if run.info.status == "FINISHED"][0]
    assert finished.data.metrics["acc/hard"] == pytest.approx(cell.data.metrics["acc/hard"])


def test_benchmark_compares_identifiers(tracking_uri):
    summary = _invoke("benchmark", "--identifiers", "stragglers,confidence,energy", "--tracking-uri", tracking_uri,
                      *TINY, *GRID, "--set", "benchmark.error_models=2")
    headline = pd.DataFrame(summary["headline"]).set_index("identifier")
    assert list(headline.index) == ["stragglers", "confidence", "energy"]
    assert headline["hard_count"].nunique() == 1  # thresholded to the straggler counts
    assert headline.loc["stragglers", "overlap_with_stragglers"] == 100
    assert (headline["gap"] == headline["acc/easy"] - headline["acc/hard"]).all() or \
        (headline["gap"] - (headline["acc/easy"] - headline["acc/hard"])).abs().max() < 1e-9
    client = MlflowClient(tracking_uri)
    artifacts = {a.path for a in client.list_artifacts(summary["parent_run_id"])}
    assert {"gaps.csv", "headline.csv", "class_counts.csv", "overlap_matrix.csv", "jaccard_matrix.csv"} <= artifacts
    grids = _children(client, summary["parent_run_id"])
    assert sorted(run.data.tags["hardness.identifier"] for run in grids) == ["confidence", "energy", "stragglers"]
    assert all(len(_children(client, grid.info.run_id)) == 4 for grid in grids)


def test_unknown_identifier_exits_2(tracking_uri):
    result = runner.invoke(app, ["benchmark", "--identifiers", "stragglers,vibes", "--tracking-uri", tracking_uri])
    assert result.exit_code == 2 and "unknown identifier 'vibes'" in result.stderr
