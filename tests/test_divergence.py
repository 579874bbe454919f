"""Divergence: the rule on planted losses, the guard stopping models, and every study leaving diverged models out
(`hardness run` on digits with lr 1000 fails with exit 4; with lr 3 some seeds diverge and are left out)."""

import json
import math

import pytest
import torch
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine import Engine
from hardness.engine.divergence import DIVERGED, DivergenceGuard, compute_diverged, describe_diverged
from hardness.engine.ensemble import build_ensemble
from hardness.engine.seeds import derive_model_seeds
from hardness.errors import ComputationFailed
from hardness.identifiers.base import Identification
from hardness.identifiers.identify import HardSets, threshold_identification
from hardness.studies.benchmark.run import _pair_left_out
from hardness.studies.search.objective import precompute

runner = CliRunner()
SMALL = ["--epochs", "60", "--subset-size", "400", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]


def test_rule_flags_non_finite_and_exploding_loss_and_non_finite_radii():
    loss = torch.tensor([2.0, float("nan"), float("inf"), 23.1, 22.9, 0.1])
    initial = torch.full((6,), 2.3)
    assert compute_diverged(loss, initial).tolist() == [False, True, True, True, False, False]
    radii = torch.ones(6, 3)
    radii[5, 1] = float("nan")
    assert compute_diverged(loss, initial, radii).tolist() == [False, True, True, True, False, True]


def test_guard_stops_diverging_models_and_records_the_loss():
    config = load_config(None, ["train.lr=1000", "train.epochs=30", "data.subset_size=200"])
    dataset = load_dataset(config.data, config.seed)
    guard = DivergenceGuard(2, config.train.epochs)
    engine = Engine(config.model, config.train, dataset.n_classes)
    fitted = engine.fit(build_ensemble(dataset.n_features, dataset.n_classes, config.model, derive_model_seeds(0, 2)),
                        dataset.x, dataset.y, hooks=[guard])
    assert guard.diverged.all()
    assert torch.equal(fitted.epochs_trained, guard.diverged_epoch)  # stopped where it diverged
    first = int(guard.diverged_epoch.min())
    assert not torch.isnan(guard.loss[: first + 1]).any() and torch.isnan(guard.loss[-1]).all()


def test_message_names_the_models():
    message = describe_diverged(torch.tensor([False, True, False, True]), "seeds")
    assert message.startswith("2 of 4 seeds diverged") and message.endswith("models 1, 3")


def test_hard_sets_leave_diverged_models_out():
    dataset = load_dataset(load_config(None, ["data.subset_size=50"]).data, 0)
    config = load_config(None, ["threshold.method=top_k", "threshold.k=5"])
    scores = torch.rand(3, dataset.n_samples)
    identification = Identification("planted", scores, None, {DIVERGED: torch.tensor([False, True, False])})
    sets = threshold_identification(dataset, config, identification)
    assert sets.hard.sum(1).tolist() == [5, 0, 5] and sets.diverged.tolist() == [False, True, False]
    assert torch.equal(sets.kept, sets.hard[[0, 2]])
    # compared by seed: a model left out of one identifier is left out of every identifier
    paired = _pair_left_out({"a": sets, "b": HardSets(torch.ones(3, 4, dtype=torch.bool),
                                                        torch.tensor([True, False, False]))})
    assert all(s.diverged.tolist() == [True, True, False] for s in paired.values())
    assert paired["b"].hard.sum(1).tolist() == [0, 0, 4]


def test_search_with_every_model_diverged_has_nothing_to_search():
    config = load_config(None, ["identifier.name=energy", "train.lr=1000", "train.epochs=30", "data.subset_size=200",
                                "imbalance.hard_sets=2"])
    with pytest.raises(ComputationFailed, match="2 of 2 energy models diverged"):
        precompute(load_dataset(config.data, config.seed), config)


def _runs(tracking_uri, experiment):
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    return client, parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def test_run_with_every_model_diverged_exits_4_and_fails_the_run(tracking_uri):
    result = runner.invoke(app, ["run", "--tracking-uri", tracking_uri, "--experiment", "lr1000", "--seeds", "2",
                                 *SMALL, "--set", "train.lr=1000", "--json"])
    assert result.exit_code == 4, result.output
    assert "2 of 2 seeds diverged" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(result.stdout)["exit_code"] == 4
    client, parent, children = _runs(tracking_uri, "lr1000")
    assert parent.info.status == "FAILED" and parent.data.metrics["diverged"] == 2
    assert len(children) == 2  # nothing lost: every model is logged, marked
    for child in children:
        assert child.data.tags["hardness.diverged"] == "true" and child.data.metrics["diverged"] == 1
        losses = client.get_metric_history(child.info.run_id, "loss")
        assert len(losses) == child.data.metrics["diverged_epoch"] + 1
        assert losses[-1].value > 10 * losses[0].value


def test_some_seeds_diverge_they_are_marked_and_left_out(tracking_uri):
    result = runner.invoke(app, ["run", "--tracking-uri", tracking_uri, "--experiment", "lr3", "--seeds", "4",
                                 *SMALL, "--set", "train.lr=3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    diverged = summary["diverged"]
    assert 0 < len(diverged) < 4, "lr 3 on this subset diverges some seeds but not all"
    assert f"{len(diverged)} of 4 seeds diverged" in result.stderr
    kept = [k for k in range(4) if k not in diverged]
    assert [summary["straggler_counts"][k] is None for k in range(4)] == [k in diverged for k in range(4)]
    mean = sum(summary["straggler_counts"][k] for k in kept) / len(kept)
    assert sum(row["stragglers_mean"] for row in summary["per_class"]) == pytest.approx(mean)
    client, parent, _ = _runs(tracking_uri, "lr3")
    assert parent.info.status == "FINISHED" and parent.data.metrics["diverged"] == len(diverged)
    for k, child_id in enumerate(summary["child_run_ids"]):
        child = client.get_run(child_id)
        assert child.data.tags["hardness.diverged"] == str(k in diverged).lower()
    # the parent's mean loss is over the seeds that did not diverge
    kept_loss = [client.get_metric_history(summary["child_run_ids"][k], "loss") for k in kept]
    mean_loss = client.get_metric_history(parent.info.run_id, "loss/mean")
    assert len(mean_loss) == 61
    assert mean_loss[-1].value == pytest.approx(sum(h[-1].value for h in kept_loss) / len(kept), rel=1e-5)


def test_loss_is_logged_per_epoch_on_children_and_parent(tracking_uri):
    result = runner.invoke(app, ["run", "--tracking-uri", tracking_uri, "--experiment", "loss", "--seeds", "2",
                                 *SMALL])
    assert result.exit_code == 0, result.output
    client, parent, children = _runs(tracking_uri, "loss")
    mean = client.get_metric_history(parent.info.run_id, "loss/mean")
    assert [m.step for m in mean] == list(range(61)) and mean[-1].value < mean[0].value
    assert mean[0].value == pytest.approx(math.log(10), rel=0.05)  # a fresh model predicts nearly uniformly
    histories = [client.get_metric_history(child.info.run_id, "loss") for child in children]
    assert all(len(h) == 61 and child.data.metrics["diverged"] == 0 for h, child in zip(histories, children))
    assert mean[5].value == pytest.approx((histories[0][5].value + histories[1][5].value) / 2, rel=1e-5)


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_non_finite_config_numbers_are_config_errors(value):
    result = runner.invoke(app, ["run", "--set", f"train.lr={value}"])
    assert result.exit_code == 2 and "train.lr" in result.stderr and "finite" in result.stderr


@pytest.mark.parametrize("command", [["identify", "--identifier", "energy"], ["imbalance"], ["benchmark"],
                                     ["search", "--identifier", "confidence", "--trials", "1"]])
def test_every_study_fails_with_exit_4_when_every_model_diverged(tracking_uri, tmp_path, command):
    storage = ["--storage", f"sqlite:///{tmp_path / 'optuna.db'}"] if command[0] == "search" else []
    result = runner.invoke(app, [*command, *storage, "--tracking-uri", tracking_uri, "--experiment", "diverged",
                                 "--subset-size", "200", "--epochs", "30", "--set", "inversion.warmup=5",
                                 "--set", "imbalance.hard_sets=2", "--set", "train.lr=1000", "--json"])
    assert result.exit_code == 4, result.output
    assert "diverged" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    _, parent, _ = _runs(tracking_uri, "diverged")
    assert parent.info.status == "FAILED"
