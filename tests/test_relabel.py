"""The review loop on digits: corrections parsed against planted files, then export (review CSV, Label Studio tasks)
-> a reviewer's answers -> relabel (new npz, lineage) -> what the fix buys, end to end through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import DataConfig
from hardness.datasets.prepare import load_dataset
from hardness.errors import UserError
from hardness.studies.export.review import build_review_rows
from hardness.studies.relabel.corrections import parse_corrections, plan_corrections
from hardness.studies.relabel.summary import summarise_fix
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker
from tests.planted_runs import log_diagnosis

runner = CliRunner()
SAMPLES = pd.DataFrame({"original_index": [4, 8, 9], "label": [0, 1, 2]})
NAMES = ("cat", "dog", "eel")


def test_a_filled_review_csv_gives_the_changed_labels():
    text = "original_index,label,corrected_label\n4,0,dog\n8,1,\n9,2,eel\n4,0,eel\n"
    plan = plan_corrections(parse_corrections(text, ".csv", "f"), SAMPLES, NAMES, "f")
    assert plan.values.tolist() == [[4, 0, 2]]  # the last word on sample 4; 9 keeps its label; 8 is blank


def test_index_and_label_columns_and_spreadsheet_numbers():
    plan = plan_corrections(parse_corrections("index,label\n8,2.0\n", ".csv", "f"), SAMPLES, ("0", "1", "2"), "f")
    assert plan.values.tolist() == [[8, 1, 2]]


def test_label_studio_exports_full_and_min():
    full = [{"data": {"original_index": 9}, "annotations": [
                {"result": [{"from_name": "corrected_label", "value": {"choices": ["cat"]}}]},
                {"was_cancelled": True, "result": [{"from_name": "corrected_label", "value": {"choices": ["dog"]}}]}]},
            {"data": {"original_index": 4}, "annotations": []}]
    minimal = [{"original_index": 8, "corrected_label": "eel", "label": "dog"}]
    assert parse_corrections(json.dumps(full), ".json", "f").values.tolist() == [[9, "cat"]]
    assert parse_corrections(json.dumps(minimal), ".json", "f").values.tolist() == [[8, "eel"]]


@pytest.mark.parametrize(("text", "message"), [("index,label\n5,cat\n", "samples the run does not have"),
                                               ("index,label\n4,cow\n", "classes the data does not have"),
                                               ("sample,label\n4,cat\n", "needs an index column")])
def test_bad_corrections_are_refused_in_one_line(text, message):
    with pytest.raises(UserError, match=message):
        plan_corrections(parse_corrections(text, ".csv", "f"), SAMPLES, NAMES, "f")


def test_review_rows_put_the_flagged_first_with_names():
    table = SAMPLES.assign(verdict=["easy", "label_error", "hard"], suggested_label=[-1, 2, -1],
                           estimated_precision=[np.nan, 0.9, 0.5])
    rows = build_review_rows(table, NAMES, chosen=False)
    assert rows[["original_index", "label_name", "suggested_name", "corrected_label"]].values.tolist() == [
        [8, "dog", "eel", ""], [9, "eel", "", ""]]
    assert len(build_review_rows(table, NAMES, chosen=True)) == 3


def test_paired_summary_against_planted_accuracies():
    table = pd.DataFrame([{"arm": arm, "split": 0, "init": i, "part": part, "acc": acc + bonus}
                          for arm, bonus in (("original", 0.0), ("corrected", 0.1), ("dropped", 0.05))
                          for part in schema.TEST_PARTS for i, acc in enumerate([0.5, 0.6, 0.7])])
    summary = summarise_fix(table).set_index(["arm", "part"])
    assert summary.loc[("original", "all"), "acc_mean"] == pytest.approx(0.6)
    assert summary.loc[("corrected", "hard"), "diff_mean"] == pytest.approx(0.1)
    assert summary.loc[("dropped", "easy"), "n"] == 3 and np.isnan(summary.loc[("dropped", "easy"), "p_paired"])


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_export_review_label_studio_relabel_and_measure_round_trip(tracking_uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_id, diagnosis = log_diagnosis(tracking_uri, n=300, label_noise=0.1, epochs=40)
    errors = diagnosis[diagnosis["verdict"] == "label_error"]
    _invoke("export", "--run-id", run_id, "--format", "label-studio", "--out", "tasks.json",
            "--tracking-uri", tracking_uri)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert len(tasks) == int((diagnosis["verdict"] != "easy").sum())
    assert tasks[0]["data"]["image"].startswith("data:image/png;base64,")
    assert '<Choices name="corrected_label"' in (tmp_path / "tasks.xml").read_text()
    suggested = errors.set_index("original_index")["suggested_label"]
    for task in tasks:  # the reviewer accepts every pre-annotation
        choice = task["predictions"][0]["result"][0]["value"]["choices"]
        if task["data"]["verdict"] == "label_error":
            assert choice == [str(suggested[task["data"]["original_index"]])]
        task["annotations"] = [{"result": task.pop("predictions")[0]["result"]}]
    (tmp_path / "answers.json").write_text(json.dumps(tasks))

    summary = _invoke("relabel", "--run-id", run_id, "--corrections", "answers.json", "--out", "fixed", "--measure",
                      "--tracking-uri", tracking_uri)
    assert summary["n_corrected"] == len(errors) and summary["reference"] == "clean"
    written = np.load(tmp_path / "fixed" / "digits.npz")
    y = pd.Series(written["y"], index=written["index"])
    assert (y[errors["original_index"]].to_numpy() == errors["suggested_label"].to_numpy()).all()
    flipped = diagnosis[(diagnosis["label"] != diagnosis["clean_label"]) & (diagnosis["verdict"] != "label_error")]
    assert (y[flipped["original_index"]].to_numpy() == flipped["label"].to_numpy()).all()  # as the run saw them
    fix = pd.DataFrame(summary["fix"])
    assert len(fix) == 9 and fix["n"].eq(4).all() and fix["acc_mean"].between(0, 1).all()

    tracker = Tracker(tracking_uri, "hardness")
    run = tracker.client.get_run(summary["run_id"])
    source = json.loads(run.inputs.dataset_inputs[0].dataset.source)
    assert source["parent_run_id"] == run_id and source["corrections"].endswith("answers.json")
    parent = load_dataset(DataConfig(name="digits", subset_size=300, label_noise=0.1), 0)
    assert source["parent_digest"] == parent.fingerprint
    assert run.data.tags[schema.RELABEL_SOURCE] == run_id and "acc/corrected/hard" in run.data.metrics
    assert len(tracker.load_table(summary["run_id"], schema.CORRECTIONS)) == len(errors)

    review = _invoke("export", "--run-id", run_id, "--format", "review", "--out", "review.csv",
                     "--tracking-uri", tracking_uri)
    rows = pd.read_csv(tmp_path / "review.csv")
    assert review["n_rows"] == len(rows) and rows["corrected_label"].isna().all()
    rows["corrected_label"] = rows["suggested_name"]
    rows.to_csv(tmp_path / "filled.csv", index=False)
    again = _invoke("relabel", "--run-id", run_id, "--corrections", "filled.csv", "--out", "fixed-csv",
                    "--tracking-uri", tracking_uri)
    assert again["n_corrected"] == len(errors) and again["fix"] is None
    assert (np.load(tmp_path / "fixed-csv" / "digits.npz")["y"] == written["y"]).all()


def test_a_table_is_reviewed_in_label_studio_and_relabelled_in_its_own_format(tracking_uri, tmp_path, monkeypatch):
    from tests.sources import write_table

    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "data.csv")
    frame = pd.read_csv(tmp_path / "data.csv")
    found = _invoke("identify", "--identifier", "confidence", "--dataset", "csv", "--data-path", "data.csv",
                    "--set", "data.label_column=species", "--set", "threshold.method=quantile", "--seeds", "2",
                    "--epochs", "20", "--set", "inversion.warmup=2", "--tracking-uri", tracking_uri)
    run_id = found["parent_run_id"]
    _invoke("export", "--run-id", run_id, "--format", "label-studio", "--out", "tasks.json", "--tracking-uri",
            tracking_uri)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert tasks and "σ" in tasks[0]["data"]["features"] and "image" not in tasks[0]["data"]
    assert '<Text name="sample" value="$features"/>' in (tmp_path / "tasks.xml").read_text()
    classes = sorted(frame["species"].unique())
    changed = {i: classes[(classes.index(frame.loc[i, "species"]) + 1) % len(classes)] for i in (3, 7)}
    (tmp_path / "fixes.csv").write_text("index,label\n" + "".join(f"{i},{c}\n" for i, c in changed.items()))
    summary = _invoke("relabel", "--run-id", run_id, "--corrections", "fixes.csv", "--out", "fixed",
                      "--tracking-uri", tracking_uri)
    written = pd.read_csv(summary["data"])
    assert summary["n_corrected"] == len(changed) and summary["data"].endswith("fixed/data.csv")
    assert written.drop(columns="species").equals(frame.drop(columns="species"))
    assert written["species"].tolist() == [changed.get(i, s) for i, s in enumerate(frame["species"])]
    config = Tracker(tracking_uri, "hardness").load_text(summary["run_id"], schema.CONFIG)
    assert "label_column: species" in config and "fixed/data.csv" in config
