"""The Python API: arrays in, answers in the caller's order, the CLI's answers on the same data, Python exceptions,
nothing tracked unless asked."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from typer.testing import CliRunner

import hardness
from hardness.cli import app
from hardness.studies.common.scoring import score_ranking

runner = CliRunner()
FAST = {"epochs": 20, "seeds": 2, "warmup": 5}
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data[:300].astype(np.float32), data.target[:300]


def test_import_is_lazy_and_names_the_api():
    code = "import sys, hardness; assert 'torch' not in sys.modules; print(sorted(hardness.__all__))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "find_hard" in result.stdout and "Recorder" in result.stdout
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hardness.nope  # noqa: B018


def test_scores_equal_the_clis_on_the_same_data(digits, tmp_path, tracking_uri):
    x, y = digits
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    result = runner.invoke(app, ["identify", "--dataset", "npz", "--data-path", str(tmp_path / "digits.npz"),
                                 "--identifier", "aum", "--seeds", "2", "--epochs", "20", "--set", "inversion.warmup=5",
                                 "--tracking-uri", tracking_uri, "--json"])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["parent_run_id"]
    logged = pd.read_csv(MlflowClient(tracking_uri).download_artifacts(run_id, "scores.csv", str(tmp_path)))
    answer = hardness.score(x, y, "aum", **FAST)
    for k in (0, 1):
        cli = logged.set_index("original_index")[f"seed_{k}"].sort_index().to_numpy()
        assert answer.per_seed[k] == pytest.approx(cli, rel=1e-6, abs=1e-7)


def test_stragglers_equal_the_clis_run(digits, tmp_path, tracking_uri):
    x, y = digits
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    result = runner.invoke(app, ["run", "--dataset", "npz", "--data-path", str(tmp_path / "digits.npz"), "--seeds", "2",
                                 "--epochs", "40", "--set", "inversion.warmup=5", "--tracking-uri", tracking_uri,
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    answer = hardness.find_stragglers(x, y, seeds=2, epochs=40, warmup=5)
    epochs = answer.inversion_epochs.pivot(index="seed", columns="label", values="inversion_epoch")
    assert epochs.to_numpy().tolist() == summary["inversion_epochs"]
    assert answer.per_seed.sum(1).tolist() == summary["straggler_counts"]
    assert set(answer.radii.columns) == {"seed", "label", "epoch", "radius"} and answer.radii["epoch"].max() == 40


def test_planted_flips_rank_at_the_top(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), size=30, replace=False)
    noisy = y.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, size=30)) % 10
    truth = np.zeros(len(y), dtype=bool)
    truth[flipped] = True
    answer = hardness.score(x, noisy, "aum", seeds=3, epochs=60)
    auroc = score_ranking(torch.from_numpy(answer.scores), torch.from_numpy(truth))["auroc"]
    assert auroc > 0.9, auroc


def test_answers_come_back_in_the_callers_order_with_labels_and_ids_as_given(digits):
    x, y = digits
    ids = [f"sample-{i}" for i in range(len(y))]
    answer = hardness.find_hard(x, NAMES[y], "loss", threshold=15, ids=ids, **FAST)
    frame = answer.to_pandas()
    assert frame["id"].tolist() == ids and frame["label"].tolist() == NAMES[y].tolist()
    assert answer.per_seed.shape == (2, len(y)) and answer.per_seed.sum(1).tolist() == [15, 15]
    assert set(answer.counts["label"]) <= set(NAMES) and answer.counts["seed_0"].sum() == 15
    # the same samples in another order: the same answers, moved with them
    order = np.random.default_rng(1).permutation(len(y))
    again = hardness.score(x, NAMES[y], "loss", **FAST)
    assert again.scores == pytest.approx(answer.scores.scores)
    moved = hardness.score(x[order], NAMES[y][order], "loss", **FAST)
    assert moved.samples.labels.tolist() == NAMES[y][order].tolist()


@pytest.mark.parametrize("form", ["tensor", "images", "images_last", "frame"])
def test_inputs_of_every_form_give_the_same_scores(digits, form):
    x, y = digits
    reference = hardness.score(x, y, "margin", **FAST).scores
    if form == "frame":
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(64)]).assign(label=y)
        answer = hardness.score(frame, identifier="margin", **FAST)
    else:
        data = {"tensor": torch.from_numpy(x), "images": x.reshape(-1, 8, 8),
                "images_last": x.reshape(-1, 8, 8, 1)}[form]
        answer = hardness.score(data, torch.from_numpy(y) if form == "tensor" else y, "margin", **FAST)
    tolerance = 1e-6 if form in ("tensor", "frame") else 1e-4  # images are standardised with one mean and std
    if form in ("tensor", "frame"):
        assert answer.scores == pytest.approx(reference, rel=tolerance, abs=tolerance)
    else:
        assert answer.scores.shape == reference.shape and np.isfinite(answer.scores).all()


def test_settings_by_name_by_section_and_by_config_agree(digits):
    x, y = digits
    by_name = hardness.score(x, y, "energy", epochs=20, seeds=2, lr=0.05, warmup=5).scores
    by_section = hardness.score(x, y, "energy", train={"epochs": 20, "lr": 0.05}, seeds=2, warmup=5).scores
    by_field = hardness.score(x, y, "energy", train__epochs=20, train__lr=0.05, seeds=2, inversion__warmup=5).scores
    config = hardness.Config(seeds=2, train={"epochs": 20, "lr": 0.05}, inversion={"warmup": 5})
    by_config = hardness.score(x, y, "energy", config=config).scores
    for other in (by_section, by_field, by_config):
        assert np.array_equal(other, by_name)


def test_a_subset_leaves_the_other_samples_unanswered(digits):
    x, y = digits
    answer = hardness.score(x, y, "loss", subset_size=200, **FAST)
    assert answer.samples.used.sum() == 200 and np.isnan(answer.scores).sum() == 100


@pytest.mark.parametrize("call, error, message", [
    (lambda x, y: hardness.score(x, y, "nope"), ValueError, "choose from: aum, cleanlab"),
    (lambda x, y: hardness.score(x, y), TypeError, "needs an identifier"),
    (lambda x, y: hardness.score(x, y, "aum", workers=2), TypeError, "ambiguous: give one of executor__workers"),
    (lambda x, y: hardness.score(x, y, "aum", colour=2), TypeError, "unknown setting 'colour'"),
    (lambda x, y: hardness.score(x, y, "aum", epochs=-1), ValueError, "train.epochs"),
    (lambda x, y: hardness.score(x, y[:10], "aum"), ValueError, "300 samples in x but 10 labels"),
    (lambda x, y: hardness.score("text", y, "aum"), TypeError, "NumPy array, a torch tensor or a pandas DataFrame"),
    (lambda x, y: hardness.find_hard(x, y, "aum", agreement=0), ValueError, "agreement"),
    (lambda x, y: hardness.find_hard(x, y, "aum", threshold=[1]), TypeError, "threshold must be"),
    (lambda x, y: hardness.find_hard(x, y, threshold=10), ValueError, "stragglers flag their own set"),
    (lambda x, y: hardness.score(x, np.r_[y[:-1], 99], "aum"), ValueError, "fewer than 2 samples of class 99"),
])
def test_bad_calls_raise_python_exceptions_naming_the_fix(digits, call, error, message):
    x, y = digits
    with pytest.raises(error, match=message):
        call(x, y)


def test_nothing_is_tracked_unless_asked(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    x, y = digits
    assert hardness.score(x, y, "margin", **FAST).run_id is None
    assert list(tmp_path.iterdir()) == []


def test_a_tracked_call_logs_what_the_cli_logs(digits, tracking_uri):
    x, y = digits
    answer = hardness.find_hard(x, y, "margin", threshold=0.9, tracking_uri=tracking_uri, experiment="notebook",
                                **FAST)
    untracked = hardness.find_hard(x, y, "margin", threshold=0.9, **FAST)
    assert np.array_equal(answer.per_seed, untracked.per_seed)
    run = MlflowClient(tracking_uri).get_run(answer.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["hardness.kind"] == "identify"
    assert run.data.params["data.name"] == "arrays" and run.data.params["threshold.method"] == "quantile"
    artifacts = {a.path for a in MlflowClient(tracking_uri).list_artifacts(answer.run_id)}
    assert {"scores.csv", "samples.csv", "config.yaml"} <= artifacts


def test_the_inversion_rules_timing_is_checked_only_where_the_call_uses_it(digits):
    x, y = digits
    short = {"epochs": 20, "seeds": 2}  # warmup 20 + check_every 5 > 20 epochs: the rule could never fire
    assert np.isfinite(hardness.score(x, y, "aum", **short).scores).all()
    assert hardness.find_hard(x, y, "aum", threshold=0.9, **short).per_seed.sum() > 0
    for call in (lambda: hardness.find_hard(x, y, "aum", **short),  # like_stragglers trains the stragglers
                 lambda: hardness.find_stragglers(x, y, **short), lambda: hardness.score(x, y, "stragglers", **short)):
        with pytest.raises(ValueError, match="no inversion check can happen"):
            call()
