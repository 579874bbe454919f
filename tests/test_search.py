"""Search: the objective on a planted hard set (known gap), the constraint, offline inversion rules equal
live straggler finding, the CLI end to end (trials as child runs, resume), pruned trials, two workers on
one SQLite study, and one-line user errors."""

import json
import os
import signal
import subprocess
import sys

import optuna
import pytest
import torch
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import load_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers import get_identifier
from hardness.identifiers.stragglers import find_stragglers
from hardness.studies.search.objective import SearchProblem, flag_fraction, objective, score_gaps
from hardness.studies.search.run import run_search
from tests.processes import start, wait_for_run

runner = CliRunner()
TINY = ["--subset-size", "240", "--epochs", "30", "--set", "imbalance.hard_sets=2", "--set", "imbalance.inits=2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def planted_dataset(n_per_class=60, n_classes=3, n_flipped=18, seed=0):
    """Well-separated Gaussian clusters; the first n_flipped samples carry another class's label (the hard set)."""
    generator = torch.Generator().manual_seed(seed)
    clean = torch.arange(n_classes).repeat_interleave(n_per_class)[torch.randperm(n_classes * n_per_class,
                                                                                  generator=generator)]
    x = 4.0 * torch.eye(n_classes, 8)[clean] + 0.3 * torch.randn(len(clean), 8, generator=generator)
    y = clean.clone()
    y[:n_flipped] = (clean[:n_flipped] + 1) % n_classes
    index = torch.arange(len(clean))
    return Dataset("planted", x, y, clean, index, n_classes, index[:n_flipped], "planted")


def test_gap_of_planted_hard_set_is_one_and_of_a_random_set_near_zero():
    dataset = planted_dataset()
    config = load_config(None, ["train.epochs=80", "imbalance.inits=2", "search.train_ratio=0.5"])
    planted = torch.zeros(dataset.n_samples, dtype=torch.bool)
    planted[:18] = True
    random_set = torch.zeros_like(planted)
    random_set[torch.randperm(dataset.n_samples, generator=torch.Generator().manual_seed(1))[:18]] = True
    # held-out flipped samples sit in another class's cluster: always wrong; everything else right
    gaps = list(score_gaps(dataset, config, torch.stack([planted, random_set])))
    assert gaps[0] == pytest.approx(1.0)
    assert abs(gaps[1]) < 0.35


def test_objective_finds_the_planted_gap_and_prunes_tiny_sets_as_infeasible():
    dataset = planted_dataset()
    config = load_config(None, ["train.epochs=80", "imbalance.hard_sets=2", "imbalance.inits=2",
                                "search.train_ratio=0.5", "search.min_hard_fraction=0.05"])
    scores = (dataset.y != dataset.clean_y).float().expand(2, -1) + 0.01 * torch.rand(2, dataset.n_samples)
    problem = SearchProblem(dataset, config, scores=scores)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"fraction": 0.1, "level": "dataset"})   # exactly the 18 flipped samples of 180
    study.enqueue_trial({"fraction": 0.03, "level": "dataset"})  # 5 of them: a bigger gap would be trivial
    study.optimize(lambda trial: objective(trial, problem), n_trials=2)
    planted, tiny = study.trials
    assert planted.state == optuna.trial.TrialState.COMPLETE and planted.value == pytest.approx(1.0)
    assert planted.user_attrs["hard_fraction"] == pytest.approx(0.1)
    assert planted.constraints == pytest.approx({"min_hard_fraction": -0.05, "max_hard_fraction": -0.2})
    assert tiny.state == optuna.trial.TrialState.PRUNED and tiny.constraints["min_hard_fraction"] > 0
    assert tiny.intermediate_values == {}  # stopped before any training
    assert study.best_trial.number == planted.number


def test_flag_fraction_dataset_and_class_level():
    scores = torch.arange(10.0)
    labels = torch.tensor([0] * 5 + [1] * 5)
    assert flag_fraction(scores, labels, 0.2, level="dataset").nonzero().flatten().tolist() == [8, 9]
    assert flag_fraction(scores, labels, 0.2, level="class").nonzero().flatten().tolist() == [4, 9]


def test_offline_rules_equal_live_stragglers():
    config = load_config(None, ["train.epochs=60", "data.subset_size=300", "inversion.max_retries=0"])
    dataset = load_dataset(config.data, config.seed)
    seeds = derive_model_seeds(config.seed, 3)
    record = get_identifier("stragglers").record(dataset, config, seeds)  # one training serves every rule
    rules = [config.inversion, config.inversion.model_copy(update={"mode": "last", "warmup": 5}),
             config.inversion.model_copy(update={"warmup": 4, "check_every": 3, "smoothing": 3})]
    for rule in rules:
        live = find_stragglers(dataset, config.model_copy(update={"inversion": rule}), seeds, seed=config.seed)
        assert live.hard.any()
        offline = record.derive(dataset.y, rule)
        assert torch.equal(offline.hard, live.hard), rule
        assert torch.equal(offline.inversion_epoch, live.inversion_epoch), rule


@pytest.mark.parametrize("mode", ["own", "last"])
def test_search_derives_without_retries(mode):
    """Where `hardness run` retries a class, the search's offline derivation reports it uninverted and flags none of
    it; every class that inverted in the first attempt is identical to the run's."""
    config = load_config(None, ["train.epochs=100", "data.subset_size=600", f"inversion.mode={mode}"])
    dataset = load_dataset(config.data, config.seed)
    seeds = derive_model_seeds(config.seed, 4)
    live = find_stragglers(dataset, config, seeds, seed=config.seed)
    offline = get_identifier("stragglers").record(dataset, config, seeds).derive(dataset.y, config.inversion)
    retried = live.attempt > 0
    assert retried.any(), "the config must make some class need a retry"
    if mode == "own":
        assert (offline.inversion_epoch[retried] == -1).all()
        kept = ~retried[:, dataset.y]
        assert torch.equal(offline.hard[kept], live.hard[kept])
        assert not offline.hard[~kept].any()
    else:  # a retried model is re-identified whole: models without retries agree, the others miss a class offline
        first_attempt = ~retried.any(1)
        assert first_attempt.any()
        assert torch.equal(offline.hard[first_attempt], live.hard[first_attempt])
        assert (offline.inversion_epoch[~first_attempt] == -1).any(1).all()


def _search(tracking_uri, storage, *extra):
    result = runner.invoke(app, ["search", "--tracking-uri", tracking_uri, "--storage", storage,
                                 "--study-name", "s", *TINY, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _children(client, parent):
    experiment = client.get_experiment_by_name("hardness").experiment_id
    return client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")


def test_cli_tracks_trials_as_children_and_resumes_the_same_study_and_parent(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    # after 30 epochs stragglers are many: lift the upper bound so that some trials are feasible
    stragglers = ["--identifier", "stragglers", "--set", "search.max_hard_fraction=1"]
    first = _search(tracking_uri, storage, *stragglers, "--trials", "3")
    client = MlflowClient(tracking_uri)
    parent = client.get_run(first["parent_run_id"])
    assert parent.data.tags["hardness.kind"] == "search" and parent.info.status == "FINISHED"
    assert "trials.csv" in [a.path for a in client.list_artifacts(parent.info.run_id)]
    children = _children(client, first["parent_run_id"])
    study = optuna.load_study(study_name="s", storage=storage)
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [0, 1, 2]
    assert {t.user_attrs["mlflow_run_id"] for t in study.trials} == {r.info.run_id for r in children}
    for run in children:
        assert {"warmup", "check_every", "smoothing", "mode"} <= set(run.data.params)
        assert "hard_fraction" in run.data.metrics
        pruned = run.data.tags["hardness.pruned"] == "true"
        assert run.info.status == ("KILLED" if pruned else "FINISHED")
        assert pruned or "objective/gap" in run.data.metrics
    assert "FINISHED" in {run.info.status for run in children}
    second = _search(tracking_uri, storage, *stragglers, "--trials", "2")
    assert second["parent_run_id"] == first["parent_run_id"] and second["n_trials"] == 5
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 5
    assert len(_children(client, first["parent_run_id"])) == 5
    changed = runner.invoke(app, ["search", *stragglers, "--tracking-uri", tracking_uri, "--storage", storage,
                                  "--study-name", "s", *TINY, "--epochs", "31"])
    assert changed.exit_code == 2 and "train.epochs" in changed.stderr


def test_pruned_trials_end_killed_and_tagged(tracking_uri, tmp_path):
    config = load_config(None, ["identifier.name=energy", "data.subset_size=240", "train.epochs=30",
                                "imbalance.hard_sets=2", "imbalance.inits=2", "search.trials=2",
                                f"tracking.uri={tracking_uri}", f"search.storage=sqlite:///{tmp_path / 'o.db'}"])
    # the gap is at most 1, so this pruner stops every trial after its first hard set
    summary = run_search(config, pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    assert set(summary.trials["state"]) == {"PRUNED"} and summary.best().empty
    client = MlflowClient(tracking_uri)
    children = _children(client, summary.parent_run_id)
    assert len(children) == 2
    assert all(r.info.status == "KILLED" and r.data.tags["hardness.pruned"] == "true" for r in children)
    assert client.get_run(summary.parent_run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_and_parent(tmp_path):
    store = tmp_path / "mlruns" / "mlflow.db"  # new: the workers also race to set up the MLflow store
    command = [sys.executable, "-m", "hardness", "search", "--identifier", "confidence", "--trials", "2",
               "--tracking-uri", f"sqlite:///{store}", "--study-name", "shared", *TINY, "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    parents = {json.loads(stdout)["parent_run_id"] for stdout, _ in outputs}
    assert len(parents) == 1
    storage = f"sqlite:///{store.parent / 'optuna.db'}"  # the default: beside the MLflow store
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4 and all(t.state.is_finished() for t in study.trials)
    assert study.user_attrs["mlflow_parent_run_id"] in parents
    assert len(_children(MlflowClient(f"sqlite:///{store}"), parents.pop())) == 4


@pytest.mark.parametrize("args, message", [
    (["--identifier", "nope"], "unknown identifier"),
    (["--identifier", "energy", "--storage", "nonsense://x"], "Optuna storage"),
    (["--identifier", "energy", "--storage", "MLFLOW_DB"], "MLflow database"),
])
def test_user_errors_are_one_line_exit_2(tracking_uri, args, message):
    args = [tracking_uri if a == "MLFLOW_DB" else a for a in args]
    result = runner.invoke(app, ["search", "--tracking-uri", tracking_uri, *TINY, *args])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_shared_parent_runs_until_the_last_worker_ends(tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    worker = ["search", "--identifier", "confidence", "--study-name", "long", "--storage", storage, *TINY]
    slow = start(tracking_uri, "hardness", *worker, "--trials", "100")
    parent = wait_for_run(slow, tracking_uri, "hardness", "search-")  # the slow worker started the study's parent
    quick = start(tracking_uri, "hardness", *worker, "--trials", "1")
    assert quick.wait(timeout=300) == 0, quick.stderr.read()
    client = MlflowClient(tracking_uri)
    assert slow.poll() is None, "the slow worker must outlive the quick one"
    assert client.get_run(parent).info.status == "RUNNING"  # the quick worker left it to the other
    assert slow.wait(timeout=600) == 0, slow.stderr.read()
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert sorted(v for k, v in run.data.tags.items() if k.startswith("hardness.worker.")) == ["finished"] * 2


@pytest.mark.slow
def test_ctrl_c_stops_a_search_in_one_line_and_ends_its_runs_killed(tracking_uri, tmp_path):
    worker = ["search", "--identifier", "confidence", "--study-name", "stop", "--storage",
              f"sqlite:///{tmp_path / 'optuna.db'}", *TINY, "--trials", "500", "--json"]  # --json: no progress bar
    process = start(tracking_uri, "hardness", *worker)
    wait_for_run(process, tracking_uri, "hardness", "trial-", logged=False)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["error: interrupted by SIGINT: the runs in progress end KILLED (rerun "
                                           "imbalance, benchmark or search to continue where they stopped)"]
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("hardness").experiment_id])
    assert "RUNNING" not in {run.info.status for run in runs}
    assert next(r for r in runs if r.info.run_name.startswith("search-")).info.status == "KILLED"
