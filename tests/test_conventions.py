"""MLflow conventions a user sees in the UI: experiment kind, standard tags, description, dataset input, radii
figure, and `hardness ui` serving the store every command writes to."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.errors import UserError
from hardness.tracking.tracker import package_commit, ui_command

runner = CliRunner()
TINY = ["--seeds", "2", "--epochs", "30", "--subset-size", "200", "--set", "inversion.warmup=5"]


@pytest.fixture(scope="module")
def logged(_tracking_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("conventions")
    (root / "mlruns").mkdir()
    (root / "mlruns" / "mlflow.db").write_bytes(Path(_tracking_template).read_bytes())
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    result = runner.invoke(app, ["run", "--tracking-uri", uri, *TINY, "--json"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(uri)
    return uri, client, client.get_run(json.loads(result.stdout)["parent_run_id"])


def test_experiment_opens_on_the_runs_table(logged):
    _, client, parent = logged
    assert client.get_experiment(parent.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_standard_tags_and_description(logged):
    _, _, parent = logged
    tags = parent.data.tags
    assert tags["mlflow.source.name"] == "hardness" and tags["mlflow.user"]
    assert tags["mlflow.source.git.commit"] == tags["hardness.git_commit"] == package_commit()
    note = tags["mlflow.note.content"]
    assert note.startswith("`hardness") and "stragglers per seed" in note and "of 200" in note  # argv: pytest's here


def test_dataset_input_fills_the_dataset_column(logged):
    _, _, parent = logged
    (dataset_input,) = parent.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "digits" and dataset.digest == parent.data.tags["hardness.fingerprint"]
    assert json.loads(dataset.source) == {"uri": "sklearn.datasets.load_digits"}
    features = json.loads(json.loads(dataset.schema)["mlflow_tensorspec"]["features"])
    assert features[0]["tensor-spec"]["shape"] == [-1, 64]
    assert {tag.key: tag.value for tag in dataset_input.tags}["mlflow.data.context"] == "training"


def test_radii_figure_on_the_parent(logged):
    _, client, parent = logged
    assert "radii.png" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_commit_is_the_packages_not_the_working_directorys(tmp_path):
    code = "from hardness.tracking.tracker import package_commit; print(package_commit())"
    elsewhere = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert elsewhere.stdout.strip() == package_commit()


def test_ui_serves_the_resolved_store(logged, tmp_path):
    uri, _, _ = logged
    command = ui_command(uri, host="127.0.0.1", port=5055)
    assert command[1:4] == ["-m", "mlflow", "ui"] and command[command.index("--backend-store-uri") + 1] == uri
    assert command[-4:] == ["--host", "127.0.0.1", "--port", "5055"]
    assert ui_command("http://127.0.0.1:5000", host="127.0.0.1", port=5000) is None
    with pytest.raises(UserError, match="no MLflow store"):
        ui_command(f"sqlite:///{tmp_path}/absent/mlflow.db", host="127.0.0.1", port=5000)
