"""Search: offline inversion rules equal live straggler finding, thresholds by fraction, the constraint,
the CLI end to end with trials as child runs, two workers on one SQLite study, and resuming a study."""

import json
import os
import subprocess
import sys

import optuna
import torch
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import load_config
from hardness.data import load_dataset
from hardness.identifiers.base import derive_model_seeds
from hardness.identifiers.stragglers import find_stragglers
from hardness.search import compute_stragglers_for_rule, flag_fraction, record_history

runner = CliRunner()
TINY = ["--subset-size", "240", "--epochs", "30", "--set", "imbalance.hard_sets=2", "--set", "imbalance.inits=2"]


def test_offline_rule_equals_live_stragglers():
    for mode in ("own", "last"):
        config = load_config(None, ["train.epochs=60", "data.subset_size=300", "inversion.warmup=5",
                                    "inversion.max_retries=0", f"inversion.mode={mode}"])
        dataset = load_dataset(config.data, config.seed)
        seeds = derive_model_seeds(config.seed, 3)
        live = find_stragglers(dataset, config, seeds, seed=config.seed)
        offline = compute_stragglers_for_rule(record_history(dataset, config, seeds), dataset.y, config.inversion)
        assert torch.equal(live.hard, offline)


def test_flag_fraction_dataset_and_class_level():
    scores = torch.arange(10.0)
    labels = torch.tensor([0] * 5 + [1] * 5)
    assert flag_fraction(scores, labels, 0.2, level="dataset").nonzero().flatten().tolist() == [8, 9]
    assert flag_fraction(scores, labels, 0.2, level="class").nonzero().flatten().tolist() == [4, 9]


def _search(tracking_uri, storage, *extra):
    result = runner.invoke(app, ["search", "--identifier", "energy", "--tracking-uri", tracking_uri,
                                 "--storage", storage, "--study-name", "s", *TINY, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_logs_trials_as_children_and_resumes(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = _search(tracking_uri, storage, "--trials", "3")
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("hardness").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{first['parent_run_id']}'")
    assert len(children) == 3
    for run in children:
        assert {"hard_fraction", "level"} <= set(run.data.params)
        assert run.info.status in ("FINISHED", "KILLED")
        assert "objective/gap" in run.data.metrics or run.data.tags.get("hardness.pruned") == "true"
    second = _search(tracking_uri, storage, "--trials", "2")
    assert second["parent_run_id"] == first["parent_run_id"]
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 5


def test_constraint_marks_tiny_hard_sets_infeasible(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _search(tracking_uri, storage, "--trials", "3", "--set", "search.min_hard_fraction=0.5")
    study = optuna.load_study(study_name="s", storage=storage)
    assert all(trial.constraints["min_hard_fraction"] > 0 for trial in study.trials)
    assert not [t for t in study.best_trials if t.constraints["min_hard_fraction"] <= 0]


def test_two_workers_share_one_sqlite_study(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    command = [sys.executable, "-m", "hardness", "search", "--identifier", "confidence", "--trials", "2",
               "--tracking-uri", tracking_uri, "--storage", storage, "--study-name", "shared", *TINY, "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4 and all(t.state.is_finished() for t in study.trials)


def test_bad_storage_is_one_line_exit_2(tracking_uri):
    result = runner.invoke(app, ["search", "--identifier", "energy", "--storage", "nonsense://x",
                                 "--tracking-uri", tracking_uri, *TINY])
    assert result.exit_code == 2 and "Optuna storage" in result.stderr
