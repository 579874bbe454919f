"""`hardness search --n-workers N --study-trials M`: N local processes on one study under one parent run, the whole
study capped at M trials (Optuna's MaxTrialsCallback: workers that start trials at the same moment may pass the cap by
at most N - 1), and a study at its cap runs no more."""

import json

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app

runner = CliRunner()
TINY = ["--subset-size", "240", "--epochs", "30", "--set", "imbalance.hard_sets=2", "--set", "imbalance.inits=2"]


def _search(tracking_uri, storage, *extra):
    result = runner.invoke(app, ["search", "--identifier", "confidence", "--tracking-uri", tracking_uri,
                                 "--storage", storage, "--study-name", "capped", *TINY, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_workers_share_one_study_and_parent_and_stop_at_the_study_cap(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = _search(tracking_uri, storage, "--n-workers", "2", "--trials", "3", "--study-trials", "3")
    study = optuna.load_study(study_name="capped", storage=storage)
    assert 3 <= len(study.trials) <= 3 + 1 < 2 * 3  # each worker alone would have run 3
    assert first["n_trials"] == first["ran_here"] == len(study.trials)
    assert all(trial.state.is_finished() for trial in study.trials)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("hardness").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{first['parent_run_id']}'")
    assert {trial.user_attrs["mlflow_run_id"] for trial in study.trials} == {run.info.run_id for run in children}
    parent = client.get_run(first["parent_run_id"])
    workers = {k: v for k, v in parent.data.tags.items() if k.startswith("hardness.worker.")}
    assert parent.info.status == "FINISHED" and sorted(workers.values()) == ["finished", "finished"]
    again = _search(tracking_uri, storage, "--n-workers", "2", "--trials", "3", "--study-trials", "3")
    assert again["ran_here"] == 0 and again["n_trials"] == len(study.trials)
    assert again["parent_run_id"] == first["parent_run_id"]
