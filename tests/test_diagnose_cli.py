"""`hardness diagnose` end to end against a temporary MLflow store: the run and its artifacts, `export --verdict`,
`export --clean-out --relabel`, and the refusals (exit 2)."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.tracking import schema

runner = CliRunner()
DIAGNOSE = ["diagnose", "configs/diagnose-quick.yaml", "--set", "data.label_noise=0.1", "--set", "diagnose.bootstrap=20",
            "--threads", "1", "--json"]


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """(tracking URI, the --json summary) of one quick diagnosis of digits with 10% flipped labels."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('diagnose')}/mlflow.db"
    result = runner.invoke(app, [*DIAGNOSE, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    return uri, json.loads(result.stdout)


def test_the_run_holds_the_diagnosis_its_calibration_and_figures(diagnosed):
    uri, summary = diagnosed
    client = MlflowClient(uri)
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags[schema.KIND] == "diagnose"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {schema.DIAGNOSIS, schema.CALIBRATION, schema.VERDICT_CONFUSION, schema.SAMPLES, schema.CONFIG,
            schema.pr_figure("label_error"), schema.pr_figure("outlier")} <= artifacts
    table = pd.read_csv(client.download_artifacts(run.info.run_id, schema.DIAGNOSIS))
    samples = pd.read_csv(client.download_artifacts(run.info.run_id, schema.SAMPLES))
    assert table["original_index"].tolist() == samples["original_index"].tolist()
    counts = summary["counts"]
    assert counts == {v: int((table["verdict"] == v).sum()) for v in schema.VERDICTS}
    assert {run.data.metrics[schema.verdict_metric(v)] for v in schema.VERDICTS} <= {float(n) for n in counts.values()}
    assert run.data.metrics["precision/label_error"] == pytest.approx(summary["calibration"][0]["estimated_precision"])
    assert {"time/score", "time/calibrate", "time/verdicts", "time/tracking"} <= set(run.data.metrics)
    flipped = table["label"] != table["clean_label"]
    assert (table.loc[flipped, "verdict"] == "label_error").mean() >= 0.85


def test_export_keeps_chosen_verdicts_and_relabels_a_clean_copy(diagnosed, tmp_path):
    uri, summary = diagnosed
    out = tmp_path / "errors.csv"
    result = runner.invoke(app, ["export", "--run-id", summary["run_id"], "--tracking-uri", uri, "--out", str(out),
                                 "--verdict", "label_error,outlier", "--json"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == summary["counts"]["label_error"] + summary["counts"]["outlier"]
    assert set(rows["verdict"]) <= {"label_error", "outlier"} and rows["original_index"].is_monotonic_increasing

    clean = tmp_path / "clean"
    result = runner.invoke(app, ["export", "--run-id", summary["run_id"], "--tracking-uri", uri, "--out",
                                 str(tmp_path / "all.csv"), "--clean-out", str(clean), "--relabel", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["n_relabelled"] == summary["counts"]["label_error"]
    assert written["n_clean"] == 1797 - summary["counts"]["outlier"]
    arrays = np.load(clean / "digits.npz")
    table = pd.read_csv(tmp_path / "all.csv").set_index("original_index")
    labels = pd.Series(arrays["y"], index=arrays["index"])
    errors = table[table["verdict"] == "label_error"]
    assert (labels[errors.index] == errors["suggested_label"]).all()
    kept = table[~table["verdict"].isin(["label_error", "outlier"])]
    assert (labels[kept.index] == kept["clean_label"]).all()  # the digits as stored: their labels untouched


@pytest.mark.parametrize(("args", "message"), [
    (["--verdict", "label_error,typo"], "unknown verdict typo"),
    (["--min-agreement", "0.5"], "a diagnose run gives verdicts, not agreement"),
    (["--relabel"], "--relabel applies the suggested labels in a clean copy"),
])
def test_export_refuses_options_a_diagnosis_does_not_take(diagnosed, tmp_path, args, message):
    uri, summary = diagnosed
    result = runner.invoke(app, ["export", "--run-id", summary["run_id"], "--tracking-uri", uri,
                                 "--out", str(tmp_path / "x.csv"), *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--target-precision", "1"], "diagnose.target_precision"),
    (["--set", "diagnose.identifiers=[aum]"], "must hold cleanlab"),
    (["--set", "diagnose.label_types=[adjacent]"], "unknown diagnose.label_types entry 'adjacent'"),
    (["--set", "diagnose.image_types=[ood_digits]"], "in distribution"),
    (["--set", "diagnose.label_rate=0.3"], "injects half the data or more"),
])
def test_diagnose_refuses_bad_settings_before_any_run(tracking_uri, args, message):
    result = runner.invoke(app, ["diagnose", "configs/diagnose-quick.yaml", "--tracking-uri", tracking_uri, *args])
    assert result.exit_code == 2 and message in result.output, result.output
    client = MlflowClient(tracking_uri)
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_export_of_another_kind_refuses_verdicts(tracking_uri, tmp_path):
    result = runner.invoke(app, ["identify", "--identifier", "loss", "--seeds", "2", "--epochs", "30", "--set",
                                 "threshold.method=quantile", "--set", "inversion.warmup=5", "--tracking-uri",
                                 tracking_uri, "--json"])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["parent_run_id"]
    refused = runner.invoke(app, ["export", "--run-id", run_id, "--tracking-uri", tracking_uri, "--out",
                                  str(tmp_path / "x.csv"), "--verdict", "hard"])
    assert refused.exit_code == 2 and "--verdict and --relabel read a diagnose run's verdicts" in refused.output
