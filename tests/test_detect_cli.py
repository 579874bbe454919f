"""`hardness detect` end to end on digits into a temporary MLflow store: child runs per unit, strict JSON, resume,
refusals before any run, and the report's heatmap drawn from that store."""

import json

import pandas as pd
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.tracking import schema
from tests.sources import write_table

runner = CliRunner()
NAMES = ["stragglers", "confidence", "energy"]
TINY = ["--subset-size", "400", "--seeds", "2", "--epochs", "60", "--set", "inversion.warmup=10",
        "--set", "inversion.max_retries=0", "--set", "train.lr=0.5"]
DETECT = ["detect", "--identifiers", ",".join(NAMES), "--types", "uniform,asymmetric", "--rates", "0.2",
          "--experiment", "detect-test", *TINY, "--json"]


def _children(client, parent):
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiment_ids, f"tags.`mlflow.parentRunId` = '{parent}'")


def test_detect_logs_units_resumes_and_reports(tracking_uri, tmp_path):
    result = runner.invoke(app, [*DETECT, "--tracking-uri", tracking_uri])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # strict JSON: json.loads refuses NaN
    assert summary["skipped_units"] == 0
    detection = pd.DataFrame(summary["detection"])
    assert set(detection["injection"]) == {"uniform", "asymmetric"} and set(detection["identifier"]) == set(NAMES)
    assert len(detection) == 2 * len(NAMES) * 3  # units x identifiers x (2 seeds + the ensemble)
    assert detection["auroc"].between(0, 1).all()
    assert [row["identifier"] for row in summary["summary"]] == NAMES

    client = MlflowClient(tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags[schema.KIND] == "detect"
    assert "best ensemble AUROC per injection type" in parent.data.tags[schema.NOTE]
    assert {schema.DETECTION, schema.DETECTION_SUMMARY, "config.yaml"} <= {a.path for a in client.list_artifacts(
        parent.info.run_id)}
    units = _children(client, parent.info.run_id)
    assert sorted(run.data.tags[schema.DETECT_UNIT] for run in units) == ["asymmetric-r0.2", "uniform-r0.2"]
    for unit in units:
        assert unit.info.status == "FINISHED" and unit.data.params[schema.INJECTED_PARAM] == "80"
        for name in NAMES:
            assert 0 <= unit.data.metrics[schema.detect_metric("auroc", name)] <= 1
            assert schema.detect_metric("auroc", name, schema.SEED_MEAN) in unit.data.metrics
        injected = pd.read_csv(client.download_artifacts(unit.info.run_id, schema.INJECTED))
        assert len(injected) == 80 and (injected["label"] != injected["injected_label"]).all()

    again = json.loads(runner.invoke(app, [*DETECT, "--tracking-uri", tracking_uri]).stdout)
    assert again["parent_run_id"] == summary["parent_run_id"] and again["skipped_units"] == 2
    assert again["detection"] == summary["detection"]

    out = tmp_path / "report"
    report = runner.invoke(app, ["report", "--experiment", "detect-test", "--tracking-uri", tracking_uri,
                                 "--out", str(out), "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["sources"]["detections"] == 1
    stem = summary["parent_run_id"][:8]
    assert (out / "figures" / f"detection-{stem}.png").stat().st_size > 0
    assert (out / "figures" / f"detection-{stem}.pdf").is_file()
    table = pd.read_csv(out / "tables" / f"detection-{stem}.csv")
    assert set(table["identifier"]) == set(NAMES) and {"auroc_mean", "auroc_ci_low", "auroc_ensemble"} <= set(table)
    assert "## Detection" in (out / "report.md").read_text()


def test_refusals_exit_2_before_any_run(tracking_uri):
    result = runner.invoke(app, ["detect", "--types", "ood_digits", "--identifiers", "energy", "--tracking-uri",
                                 tracking_uri, "--experiment", "refused", *TINY, "--json"])
    assert result.exit_code == 2 and "where they are in distribution" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("refused")
    assert experiment is None or not client.search_runs([experiment.experiment_id])
    for args, message in ((["--types", "blur"], "unknown injection type 'blur'"),
                          (["--rates", "0.1,1.5"], "strictly between 0 and 1"),
                          (["--identifiers", "all,energy"], "give it alone"),
                          (["--set", "data.label_noise=0.1"], "set data.label_noise to 0"),
                          (["--set", "detect.threshold.method=own"], "give only scores")):
        result = runner.invoke(app, ["detect", *args, "--tracking-uri", tracking_uri])
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)


def test_a_table_takes_label_flips_and_refuses_image_types(tracking_uri, tmp_path):
    write_table(tmp_path / "table.csv", n=90)
    data = ["--dataset", "csv", "--data-path", str(tmp_path / "table.csv"), "--set", "data.label_column=species",
            "--identifiers", "energy", "--rates", "0.2", "--seeds", "2", "--epochs", "30", "--set",
            "inversion.warmup=5", "--set", "threshold.method=quantile", "--tracking-uri", tracking_uri, "--json"]
    refused = runner.invoke(app, ["detect", *data, "--types", "uniform,atypical"])
    assert refused.exit_code == 2 and "csv:table.csv samples are not images" in refused.stderr
    result = runner.invoke(app, ["detect", *data, "--types", "asymmetric"])
    assert result.exit_code == 0, result.output
    detection = pd.DataFrame(json.loads(result.stdout)["detection"])
    assert len(detection) == 3 and detection["auroc"].between(0, 1).all()
