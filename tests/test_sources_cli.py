"""A tiny image folder, npz file and CSV table each through `run`, `identify`, `export` and `report` on the command
line, into a temporary MLflow store: file paths and class names reach every table, the cleaned data reads back."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import DataConfig
from hardness.datasets.prepare import load_dataset
from hardness.tracking import schema
from tests.sources import CLASSES, write_imagefolder, write_npz, write_table

runner = CliRunner()
TINY = ["--epochs", "30", "--seeds", "2", "--threads", "1", "--set", "inversion.warmup=2",
        "--set", "inversion.check_every=2", "--set", "inversion.max_retries=0"]
PATHS = {"imagefolder": "images", "npz": "data.npz", "csv": "data.csv"}
WRITERS = {"imagefolder": write_imagefolder, "npz": write_npz, "csv": write_table}
OPTIONS = {"csv": ["--set", "data.label_column=species"]}


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("source", list(PATHS))
def test_own_data_goes_through_run_identify_export_and_report(tmp_path, tracking_uri, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / PATHS[source]
    WRITERS[source](path)
    data = ["--dataset", source, "--data-path", str(path), *OPTIONS.get(source, []), "--tracking-uri", tracking_uri,
            *TINY]
    stragglers = _invoke("run", *data)
    identified = _invoke("identify", "--identifier", "confidence", *data)
    client = MlflowClient(tracking_uri)
    parent = client.get_run(stragglers["parent_run_id"])
    assert parent.data.tags[schema.THREADS] == "1" and parent.data.params["train.threads"] == "1"
    assert parent.data.params["data.name"] == source and parent.data.tags[schema.DATASET] == f"{source}:{path.name}"

    exported = _invoke("export", "--run-id", stragglers["parent_run_id"], "--tracking-uri", tracking_uri)
    table = pd.read_csv(exported["out"])
    assert len(table) == exported["n_samples"] == (24 if source == "imagefolder" else 60)
    assert table["original_index"].tolist() == sorted(table["original_index"])
    assert {"stragglers_agreement", "inversion_epoch"} <= set(table.columns)
    assert table["stragglers_agreement"].between(0, 1).all() and table["stragglers_agreement"].gt(0).any()
    if source == "imagefolder":
        assert all(f"/{name}/" in file for name, file in zip(table["class_name"], table["path"]))
    if source == "csv":
        assert set(table["class_name"]) == set(CLASSES)

    clean = tmp_path / "clean"
    flagged = _invoke("export", "--run-id", identified["parent_run_id"], "--tracking-uri", tracking_uri,
                      "--format", "parquet", "--min-agreement", "0.5", "--clean-out", str(clean))
    rows = pd.read_parquet(flagged["out"])
    assert flagged["out"].endswith(".parquet") and (rows["confidence_agreement"] >= 0.5).all()
    assert {"confidence_score", "confidence_agreement"} <= set(rows.columns) and len(rows) == flagged["n_rows"] > 0
    config = DataConfig(name=source, path=flagged["clean_out"], label_column="species" if source == "csv" else "label")
    cleaned = load_dataset(config, seed=0)
    assert cleaned.n_samples == flagged["n_clean"] == flagged["n_samples"] - len(rows)
    if source == "imagefolder":
        kept = {file.split("/images/")[1] for file in table["path"]} - {file.split("/images/")[1] for file in rows["path"]}
        assert {file.split("/clean/")[1] for file in cleaned.paths} == kept

    report = _invoke("report", "--tracking-uri", tracking_uri, "--out", str(tmp_path / "report"))
    written = {path for item in report["files"] for path in item["paths"]}
    for run in (stragglers, identified):
        stem = run["parent_run_id"][:8]
        assert str(tmp_path / "report" / "tables" / f"gallery-{stem}.csv") in written
        figure = tmp_path / "report" / "figures" / f"gallery-{stem}.png"
        assert (str(figure) in written) == (source == "imagefolder")
    gallery = pd.read_csv(tmp_path / "report" / "tables" / f"gallery-{identified['parent_run_id'][:8]}.csv")
    assert gallery.groupby("label")["rank"].max().max() < 8 and "confidence_score" in gallery


def test_threads_default_to_the_cores_available(tmp_path, tracking_uri, monkeypatch):
    monkeypatch.setattr("hardness.engine.threads.available_cores", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    summary = _invoke("run", "--subset-size", "60", "--epochs", "30", "--seeds", "1", "--tracking-uri", tracking_uri)
    assert MlflowClient(tracking_uri).get_run(summary["parent_run_id"]).data.tags[schema.THREADS] == "3"


def test_datasets_describes_your_own_file(tmp_path):
    write_npz(tmp_path / "d.npz", n=30)
    listed = _invoke("datasets", "--dataset", "npz", "--data-path", str(tmp_path / "d.npz"))
    assert listed == [{"name": "npz:d.npz", "n_samples": 30, "n_features": 6, "n_classes": 3, "available": True,
                       "location": str(tmp_path / "d.npz"), "source": listed[0]["source"]}]
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 2)))
    result = runner.invoke(app, ["datasets", "--dataset", "npz", "--data-path", str(tmp_path / "bad.npz")])
    assert result.exit_code == 2 and "has no array y" in result.stderr
