"""The recorder: fed the engine's own logits of a training, it scores as the engine's identifiers do; its running
sums match a hand computation; it saves and loads; bad input is a ValueError."""

import numpy as np
import pytest
import torch

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine import Hook
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers.dynamics import train_observed, training_epochs
from hardness.identifiers.identify import identify
from hardness.identifiers.recorder import IDENTIFIERS, Recorder

EPOCHS = 30


class FeedRecorder(Hook):
    """Hands model 0's logits of every epoch 1..E to a recorder, in the engine's chunks."""

    def __init__(self, recorder: Recorder, labels: torch.Tensor, epochs: range):
        self.recorder, self.labels, self.epochs = recorder, labels, epochs

    def wants(self, epoch):
        return ("logits",) if epoch in self.epochs else ()

    def on_chunk(self, epoch, models, positions, observed):
        self.recorder.update(positions, observed["logits"][0], self.labels[positions])

    def on_epoch_end(self, state):
        if state.epoch in self.epochs:
            self.recorder.end_epoch()


@pytest.fixture(scope="module")
def recorded():
    config = load_config(None, [f"train.epochs={EPOCHS}", "data.subset_size=300", "inversion.warmup=5"])
    dataset = load_dataset(config.data, config.seed)
    recorder = Recorder(dataset.n_samples, dataset.n_classes, el2n_epoch=config.identifier.el2n_epoch)
    hook = FeedRecorder(recorder, dataset.y, training_epochs(EPOCHS))
    train_observed(dataset, config, derive_model_seeds(config.seed, 1), [hook])
    return dataset, config, recorder


@pytest.mark.parametrize("name", IDENTIFIERS)
def test_the_engines_logits_give_the_engines_scores(recorded, name):
    dataset, config, recorder = recorded
    engine = identify(dataset, config, name, 1).scores[0].double().numpy()
    assert recorder.score(name) == pytest.approx(engine, rel=1e-4, abs=1e-5)


def test_the_averaged_loss_and_the_probability_confidence_match_too(recorded):
    dataset, config, recorder = recorded
    for override, option in (("identifier.loss_average=true", {"loss_average": True}),
                             ("identifier.confidence_variant=true_class_probability",
                              {"confidence_variant": "true_class_probability"})):
        changed = load_config(None, [f"train.epochs={EPOCHS}", "data.subset_size=300", "inversion.warmup=5", override])
        name = "loss" if "loss" in override else "confidence"
        engine = identify(dataset, changed, name, 1).scores[0].double().numpy()
        assert recorder.score(name, **option) == pytest.approx(engine, rel=1e-4, abs=1e-5)


def test_running_sums_by_hand_over_mini_batches():
    recorder = Recorder(3, 2, el2n_epoch=1)
    epochs = [torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]),   # correct, correct, wrong (label 1)
              torch.tensor([[0.0, 3.0], [0.0, 2.0], [0.0, 1.0]])]   # forgets sample 0, 1 stays, 2 learned
    labels = torch.tensor([0, 1, 1])
    for logits in epochs:
        recorder.update([2], logits[2:], labels[2:])      # mini-batches in any order
        recorder.update(torch.tensor([0, 1]), logits[:2], labels[:2])
        recorder.end_epoch()
    margins = torch.stack([torch.tensor([2.0, 1.0, -1.0]), torch.tensor([-3.0, 2.0, 1.0])])
    assert recorder.score("aum") == pytest.approx((-margins.mean(0)).numpy())
    assert recorder.score("margin") == pytest.approx([3.0, -2.0, -1.0])
    assert recorder.score("forgetting").tolist() == [1.0, 0.0, 0.0]
    probs = torch.stack([torch.softmax(e, 1)[torch.arange(3), labels] for e in epochs])
    assert recorder.score("datamaps") == pytest.approx((-probs.mean(0)).numpy(), rel=1e-6)
    assert recorder.score("datamaps_variability") == pytest.approx(probs.std(0, correction=0).numpy(), rel=1e-5)
    first = torch.softmax(epochs[0], 1) - torch.nn.functional.one_hot(labels, 2)
    assert recorder.score("el2n") == pytest.approx(first.norm(dim=1).numpy(), rel=1e-6)
    assert recorder.find_hard("margin", threshold=1).tolist() == [True, False, False]


def test_a_sample_never_observed_has_no_score_and_is_never_flagged():
    recorder = Recorder(3, 2)
    recorder.update([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1])
    recorder.end_epoch()
    scores = recorder.score("loss")
    assert np.isnan(scores[2]) and not np.isnan(scores[:2]).any()
    assert not recorder.find_hard("loss", threshold=2)[2]


def test_save_and_load_round_trip(tmp_path, recorded):
    _, _, recorder = recorded
    loaded = Recorder.load(recorder.save(tmp_path / "run.npz"))
    for name in IDENTIFIERS:
        assert np.array_equal(loaded.score(name), recorder.score(name), equal_nan=True)
    assert loaded.epochs == EPOCHS and not list(tmp_path.glob("*.tmp*"))


def test_history_is_kept_only_when_asked():
    recorder = Recorder(2, 2, keep_history=True)
    recorder.update([1], torch.tensor([[0.5, 0.2]]), [0])
    recorder.end_epoch()
    assert len(recorder.history) == 1 and torch.isnan(recorder.history[0][0]).all()
    assert recorder.history[0][1].tolist() == pytest.approx([0.5, 0.2])
    assert Recorder(2, 2).history == []


def test_logits_with_a_gradient_on_any_tensor_are_detached():
    recorder = Recorder(2, 2)
    logits = torch.zeros(2, 2, requires_grad=True) * 2
    recorder.update(torch.arange(2), logits, torch.tensor([0, 1]))
    recorder.end_epoch()
    assert not recorder.last_logits.requires_grad


@pytest.mark.parametrize("call, message", [
    (lambda r: r.update([0], [[1.0, 2.0, 3.0]], [0]), r"logits \[B, 2\]"),
    (lambda r: r.update([5], [[1.0, 2.0]], [0]), "positions 0..2"),
    (lambda r: r.update([0], [[1.0, 2.0]], [2]), "class ids 0..1"),
    (lambda r: r.score("stragglers"), "scores aum, confidence"),
    (lambda r: r.score("aum"), "nothing recorded yet"),
])
def test_bad_input_is_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(Recorder(3, 2))


def test_a_file_that_is_no_recording_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(2))
    with pytest.raises(ValueError, match="cannot read the recording"):
        Recorder.load(path)


@pytest.fixture
def recording(tmp_path):
    """A recording of 5 epochs over 60 samples of 3 classes whose true logits grow, sample 7 never learned."""
    recorder = Recorder(60, 3)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    for epoch in range(5):
        for start in range(0, 60, 16):
            batch = torch.arange(start, min(start + 16, 60))
            logits = torch.randn(len(batch), 3, generator=generator) * 0.1
            logits[torch.arange(len(batch)), labels[batch]] += epoch * (batch != 7).float()
            recorder.update(batch, logits, labels[batch])
        recorder.end_epoch()
    return recorder.save(tmp_path / "loop.npz")


def test_identify_dynamics_logs_a_recording_that_export_reads(recording, tracking_uri, tmp_path):
    from typer.testing import CliRunner

    from hardness.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["identify", "--dynamics", str(recording), "--identifier", "aum", "--tracking-uri",
                                 tracking_uri, "--json", "--set", "threshold.method=top_k", "--set", "threshold.k=1"])
    assert result.exit_code == 0, result.output
    run_id = __import__("json").loads(result.stdout)["parent_run_id"]
    out = tmp_path / "rows.csv"
    exported = runner.invoke(app, ["export", "--run-id", run_id, "--tracking-uri", tracking_uri, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    import pandas as pd

    rows = pd.read_csv(out).set_index("original_index")
    assert rows["aum_agreement"].idxmax() == 7 and rows["aum_agreement"].sum() == 1  # the sample never learned
    refused = runner.invoke(app, ["identify", "--dynamics", str(recording), "--identifier", "vog",
                                  "--tracking-uri", tracking_uri])
    assert refused.exit_code == 2 and "choose one of aum" in refused.stderr
    rule = runner.invoke(app, ["identify", "--dynamics", str(recording), "--identifier", "aum", "--set",
                               "threshold.method=like_stragglers", "--tracking-uri", tracking_uri])
    assert rule.exit_code == 2 and "needs a training of ours" in rule.stderr
