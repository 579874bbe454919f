"""`hardness` CLI end to end on digits into a temporary MLflow store, and the documented user errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness import __version__
from hardness.cli import app

runner = CliRunner()
SMALL = ["--seeds", "2", "--epochs", "40", "--subset-size", "300", "--set", "inversion.warmup=5",
         "--set", "inversion.max_retries=1"]


def _run(tracking_uri, *extra):
    return runner.invoke(app, ["run", "--tracking-uri", tracking_uri, *SMALL, *extra])


def test_run_logs_parent_children_metrics_and_artifacts(tracking_uri):
    result = _run(tracking_uri, "--json", "--experiment", "cli-test")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_samples"] == 300 and len(summary["child_run_ids"]) == 2
    client = MlflowClient(tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["train.epochs"] == "40" and parent.data.params["data.name"] == "digits"
    assert parent.data.tags["hardness.version"] == __version__ and len(parent.data.tags["hardness.fingerprint"]) == 16
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.yaml", "per_class.csv", "radii_summary.csv", "stragglers.csv"} <= parent_artifacts
    for child_id, count, epochs in zip(summary["child_run_ids"], summary["straggler_counts"],
                                       summary["inversion_epochs"]):
        child = client.get_run(child_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        history = client.get_metric_history(child_id, "radius/class_0")
        assert [m.step for m in history] == list(range(41))
        assert child.data.metrics["stragglers/count"] == count
        for c, epoch in enumerate(epochs):
            if epoch >= 0:
                assert child.data.metrics[f"inversion_epoch/class_{c}"] == epoch
                assert epoch >= 10 and epoch % 5 == 0
        artifacts = {a.path for a in client.list_artifacts(child_id)}
        assert {"stragglers.csv", "radii.csv"} <= artifacts


def test_curves_are_logged_at_every_nth_epoch_and_the_radii_table_keeps_all(tracking_uri, tmp_path):
    result = _run(tracking_uri, "--json", "--set", "tracking.curve_every=15")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    client = MlflowClient(tracking_uri)
    child = summary["child_run_ids"][0]
    for key in ("radius/class_3", "loss"):
        assert [m.step for m in client.get_metric_history(child, key)] == [0, 15, 30, 40]
    assert [m.step for m in client.get_metric_history(summary["parent_run_id"], "loss/mean")] == [0, 15, 30, 40]
    radii = client.download_artifacts(child, "radii.csv", str(tmp_path))
    assert list(pd.read_csv(radii)["epoch"]) == list(range(41))


def test_run_is_deterministic(tracking_uri):
    first = json.loads(_run(tracking_uri, "--json").stdout)
    second = json.loads(_run(tracking_uri, "--json").stdout)
    assert first["straggler_counts"] == second["straggler_counts"]
    assert first["inversion_epochs"] == second["inversion_epochs"]
    client = MlflowClient(tracking_uri)
    tables = [client.download_artifacts(run["child_run_ids"][0], "stragglers.csv") for run in (first, second)]
    assert open(tables[0]).read() == open(tables[1]).read()


def test_table_output_names_the_run(tracking_uri):
    result = _run(tracking_uri)
    assert result.exit_code == 0, result.output
    assert "Inversion epochs and stragglers per class" in result.stdout and "MLflow run" in result.stdout


def test_failure_marks_the_run_failed(tracking_uri, monkeypatch):
    import hardness.studies.stragglers.run as experiment

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(experiment, "find_stragglers", explode)
    result = _run(tracking_uri, "--experiment", "broken")
    assert result.exit_code != 0
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("broken").experiment_id])
    assert [run.info.status for run in runs] == ["FAILED"]


@pytest.mark.parametrize("args, message, code", [
    (["--dataset", "imagenet"], "data.name", 2),
    (["--set", "train.lrr=1"], "train.lrr", 2),
    (["--set", "data.label_noise=2"], "label_noise", 2),
    (["--dataset", "mnist", "--data-root", "/nonexistent/root"], "/nonexistent/root/MNIST/raw", 2),
    (["--tracking-uri", "http://127.0.0.1:9"], "unreachable", 3),
])
def test_errors_exit_with_their_code_and_one_line(tracking_uri, args, message, code):
    arguments = ["run", "--tracking-uri", tracking_uri, *SMALL, *args] if "--tracking-uri" not in args \
        else ["run", *SMALL, *args]
    result = runner.invoke(app, arguments)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1


def test_missing_config_file_exits_2(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_bad_option_type_exits_2():
    assert runner.invoke(app, ["run", "--seeds", "many"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


def test_datasets_lists_availability(tmp_path, idx_dataset):
    root, _, _ = idx_dataset("KMNIST")
    result = runner.invoke(app, ["datasets", "--data-root", str(root), "--json"])
    assert result.exit_code == 0, result.output
    available = {row["name"]: row["available"] for row in json.loads(result.stdout)}
    assert available == {"digits": True, "mnist": False, "fashion-mnist": False, "kmnist": True, "cifar10": False,
                         "npz": None, "csv": None, "parquet": None, "imagefolder": None, "recording": None}


def test_version_and_python_dash_m():
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"hardness {__version__}"
    completed = subprocess.run([sys.executable, "-m", "hardness", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == f"hardness {__version__}"


def test_help_lists_the_catalogue_names():
    from hardness.catalogue import DATASETS, IDENTIFIERS

    def help_text(command):  # the help box folds long lines: compare without the folding
        return " ".join(runner.invoke(app, [command, "--help"]).stdout.replace("│", " ").split())

    for command in ("run", "identify", "imbalance", "search"):
        assert " | ".join(DATASETS) in help_text(command)
    for command in ("identify", "imbalance", "search"):
        assert " | ".join(IDENTIFIERS) in help_text(command)
    assert ", ".join(IDENTIFIERS) in help_text("benchmark")
    assert list(DATASETS) == ["digits", "mnist", "fashion-mnist", "kmnist", "cifar10"]
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


@pytest.mark.parametrize("words, expected", [
    ("hardness run --dataset m", ["mnist"]),
    ("hardness identify --identifier c", ["cleanlab", "confidence"]),
    ("hardness benchmark --identifiers stragglers,e", ["stragglers,el2n", "stragglers,energy"]),
    ("hardness benchmark --identifiers a", ["aum", "all"]),
])
def test_shell_completion_offers_the_names(words, expected):
    result = runner.invoke(app, [], prog_name="hardness", env={
        "_HARDNESS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)})
    assert result.exit_code == 0 and result.stdout.split() == expected


def test_help_and_version_import_no_heavy_library():
    code = ("import sys; from typer.testing import CliRunner; from hardness.cli import app; "
            "CliRunner().invoke(app, ['run', '--help']); CliRunner().invoke(app, ['--version']); "
            "print(sorted({'torch', 'mlflow', 'optuna', 'pandas', 'matplotlib'} & set(sys.modules)))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == "[]", completed.stderr
