"""The ensemble engine against the obvious reference: separate nn.Modules trained with torch.optim."""

import pytest
import torch
import torch.nn.functional as F

from hardness.config import ModelConfig, TrainConfig
from hardness.engine import Engine, EpochState, Hook, compute_batch_order, flops_per_sample_epoch
from hardness.engine.ensemble import build_ensemble, build_module, copy_into_module
from hardness.engine.radii import compute_radii

N, D, C = 90, 40, 3
SEEDS = [11, 12, 13]


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=generator)
    x[:, :18], x[:, 25] = -0.4, 1.25  # constant features, like MNIST's border pixels (8 of them are skipped)
    y = torch.randint(0, C, (N,), generator=generator)
    return x, y


class Recorder(Hook):
    """Hook keeping every EpochState it is handed, with radii and correctness."""

    observes = frozenset({"radii", "correct"})

    def __init__(self):
        self.states: list[EpochState] = []

    def on_epoch_end(self, state):
        self.states.append(state)


def weights_of(module):
    return [p.detach().clone() for p in module.parameters()]


def reference_fit(ensemble, x, y, model, train, mask, *, seed=0):
    """Per-seed loop of plain modules; returns per model the weight snapshots after 0..E epochs and losses."""
    orders = None
    if train.batch_size is not None:
        generator = torch.Generator().manual_seed(seed)
        orders = [compute_batch_order(mask, generator) for _ in range(train.epochs)]
    snapshots, losses = [], []
    for k in range(ensemble.n_models):
        module = copy_into_module(ensemble, k, build_module(D, C, model))
        if train.optimizer == "adam":
            optimizer = torch.optim.Adam(module.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        else:
            optimizer = torch.optim.SGD(module.parameters(), lr=train.lr, momentum=train.momentum,
                                        weight_decay=train.weight_decay)
        own = mask[k].nonzero().squeeze(1)
        history, loss_curve = [weights_of(module)], []
        for epoch in range(train.epochs + 1):
            with torch.no_grad():
                loss_curve.append(F.cross_entropy(module(x[own]), y[own]).item())
            if epoch == train.epochs:
                break
            if orders is None:
                batches = [own]
            else:
                mine = orders[epoch][k, : len(own)]
                batches = [mine[start:start + train.batch_size] for start in range(0, len(own), train.batch_size)]
            for batch in batches:
                optimizer.zero_grad()
                F.cross_entropy(module(x[batch]), y[batch]).backward()
                optimizer.step()
            history.append(weights_of(module))
        snapshots.append(history)
        losses.append(loss_curve)
    return snapshots, torch.tensor(losses)


def assert_weights(ensemble, k, expected, atol):
    for got, want in zip(ensemble.parameters(), expected):
        torch.testing.assert_close(got[k], want, atol=atol, rtol=0)


def random_mask(seed, fractions=(1.0, 0.7, 0.4)):
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([torch.rand(N, generator=generator) < f for f in fractions])


CASES = [
    pytest.param(ModelConfig(width=8, depth=2, activation="tanh"), TrainConfig(lr=0.1, epochs=6), 1e-5,
                 id="sgd-tanh-d2"),
    pytest.param(ModelConfig(width=8, depth=1, activation="relu"),
                 TrainConfig(lr=0.1, epochs=6, weight_decay=0.01, momentum=0.9), 1e-5, id="sgd-momentum-wd-relu-d1"),
    pytest.param(ModelConfig(width=8, depth=3, activation="relu", latent_layer=1),
                 TrainConfig(optimizer="adam", lr=1e-2, weight_decay=0.01, epochs=6), 1e-4, id="adam-wd-relu-d3"),
    pytest.param(ModelConfig(width=8, depth=2, activation="tanh"),
                 TrainConfig(optimizer="adam", lr=1e-2, epochs=6), 1e-4, id="adam-tanh-d2"),
]


@pytest.mark.parametrize(("model", "train", "atol"), CASES)
def test_full_batch_matches_separate_modules(data, model, train, atol):
    x, y = data
    ensemble = build_ensemble(D, C, model, SEEDS)
    mask = random_mask(1)
    recorder = Recorder()
    result = Engine(model, train, C).fit(ensemble, x, y, train_mask=mask, hooks=[recorder])
    snapshots, losses = reference_fit(ensemble, x, y, model, train, mask)
    for k in range(len(SEEDS)):
        assert_weights(result.ensemble, k, snapshots[k][-1], atol)
    engine_losses = torch.stack([state.loss for state in recorder.states], dim=1)
    torch.testing.assert_close(engine_losses, losses.float(), atol=atol, rtol=0)
    assert result.epochs_trained.tolist() == [train.epochs] * len(SEEDS)


def test_inputs_without_constant_features_and_in_sorted_order(data):
    x, y = data
    x = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    order = torch.argsort(y)
    x, y = x[order], y[order]
    model, train = ModelConfig(width=8, depth=2), TrainConfig(lr=0.1, epochs=3)
    ensemble = build_ensemble(D, C, model, SEEDS)
    mask = random_mask(5)
    result = Engine(model, train, C).fit(ensemble, x, y, train_mask=mask)
    snapshots, _ = reference_fit(ensemble, x, y, model, train, mask)
    for k in range(len(SEEDS)):
        assert_weights(result.ensemble, k, snapshots[k][-1], 1e-5)


@pytest.mark.parametrize(("model", "train", "atol"), [
    pytest.param(ModelConfig(width=8, depth=2), TrainConfig(lr=0.1, epochs=3, batch_size=16), 1e-5, id="sgd"),
    pytest.param(ModelConfig(width=8, depth=2, activation="relu"),
                 TrainConfig(lr=0.05, epochs=3, batch_size=16, momentum=0.9, weight_decay=0.01), 1e-5,
                 id="sgd-momentum"),
    pytest.param(ModelConfig(width=8, depth=2), TrainConfig(optimizer="adam", lr=1e-2, epochs=3, batch_size=16), 1e-4,
                 id="adam"),
])
def test_minibatch_with_masks_of_different_sizes_matches_modules(data, model, train, atol):
    x, y = data
    ensemble = build_ensemble(D, C, model, SEEDS)
    mask = random_mask(2, fractions=(1.0, 0.55, 0.2))  # different numbers of batches per model
    result = Engine(model, train, C).fit(ensemble, x, y, train_mask=mask, seed=5)
    snapshots, _ = reference_fit(ensemble, x, y, model, train, mask, seed=5)
    for k in range(len(SEEDS)):
        assert_weights(result.ensemble, k, snapshots[k][-1], atol)


@pytest.mark.parametrize("latent_layer", [0, 1])
def test_hooks_see_every_epoch_with_radii_and_correctness_of_the_modules(data, latent_layer):
    x, y = data
    model = ModelConfig(width=8, depth=2, latent_layer=latent_layer)
    train = TrainConfig(lr=0.1, epochs=4, chunk_size=32)
    ensemble = build_ensemble(D, C, model, SEEDS)
    recorder = Recorder()
    Engine(model, train, C).fit(ensemble, x, y, hooks=[recorder])
    snapshots, _ = reference_fit(ensemble, x, y, model, train, torch.ones(len(SEEDS), N, dtype=torch.bool))
    assert [state.epoch for state in recorder.states] == list(range(train.epochs + 1))
    for state in recorder.states:
        assert state.models.tolist() == [0, 1, 2]
        assert state.radii.shape == (len(SEEDS), C) and state.correct.shape == (len(SEEDS), N)
        for k in range(len(SEEDS)):
            module = build_module(D, C, model)
            with torch.no_grad():
                for param, value in zip(module.parameters(), snapshots[k][state.epoch]):
                    param.copy_(value)
                latent = module[: 2 * (latent_layer + 1)](x)
                logits = module(x)
            torch.testing.assert_close(state.radii[k], compute_radii(latent, y, C), atol=1e-5, rtol=0)
            assert torch.equal(state.correct[k], logits.argmax(1) == y)


def test_a_stopped_model_keeps_its_weights_and_the_others_train_on(data):
    x, y = data
    model, train = ModelConfig(width=8, depth=2), TrainConfig(lr=0.1, epochs=5)

    class StopSecondAtEpochTwo(Recorder):
        def on_epoch_end(self, state):
            super().on_epoch_end(state)
            return (state.models == 1) if state.epoch == 2 else None

    ensemble = build_ensemble(D, C, model, SEEDS)
    hook = StopSecondAtEpochTwo()
    result = Engine(model, train, C).fit(ensemble, x, y, hooks=[hook])
    snapshots, _ = reference_fit(ensemble, x, y, model, train, torch.ones(len(SEEDS), N, dtype=torch.bool))
    assert result.epochs_trained.tolist() == [5, 2, 5]
    assert_weights(result.ensemble, 1, snapshots[1][2], 1e-6)
    for k in (0, 2):
        assert_weights(result.ensemble, k, snapshots[k][-1], 1e-5)
    assert [state.models.tolist() for state in hook.states] == [[0, 1, 2]] * 3 + [[0, 2]] * 3
    assert hook.states[-1].radii.shape == (2, C)


def test_stopping_every_model_ends_the_fit_early(data):
    x, y = data
    model, train = ModelConfig(width=8, depth=1), TrainConfig(lr=0.1, epochs=50)

    class StopAll(Recorder):
        def on_epoch_end(self, state):
            super().on_epoch_end(state)
            return torch.ones(len(state.models), dtype=torch.bool) if state.epoch == 1 else None

    hook = StopAll()
    result = Engine(model, train, C).fit(build_ensemble(D, C, model, SEEDS), x, y, hooks=[hook])
    assert len(hook.states) == 2
    assert result.epochs_trained.tolist() == [1, 1, 1]


def test_predict_equals_module_outputs(data):
    x, y = data
    for model in (ModelConfig(width=8, depth=3, activation="relu"), ModelConfig(width=8, depth=1)):
        ensemble = build_ensemble(D, C, model, SEEDS)
        logits = Engine(model, TrainConfig(chunk_size=25), C).predict(ensemble, x)
        assert logits.shape == (len(SEEDS), N, C)
        for k in range(len(SEEDS)):
            with torch.no_grad():
                expected = copy_into_module(ensemble, k, build_module(D, C, model))(x)
            torch.testing.assert_close(logits[k], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_chunking_does_not_change_the_result(data, batch_size):
    x, y = data
    model = ModelConfig(width=8, depth=2)
    runs = []
    for chunk in (7, 1000):
        recorder = Recorder()
        train = TrainConfig(lr=0.1, epochs=4, chunk_size=chunk, batch_size=batch_size)
        fitted = Engine(model, train, C).fit(build_ensemble(D, C, model, SEEDS), x, y, train_mask=random_mask(3),
                                             hooks=[recorder], seed=1)
        runs.append((fitted, recorder))
    (small, small_states), (whole, whole_states) = runs
    for a, b in zip(small.ensemble.parameters(), whole.ensemble.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    for a, b in zip(small_states.states, whole_states.states):
        torch.testing.assert_close(a.radii, b.radii, atol=1e-6, rtol=0)
        torch.testing.assert_close(a.loss, b.loss, atol=1e-6, rtol=0)
        assert torch.equal(a.correct, b.correct)


def test_tied_logits_count_as_the_first_class_like_argmax(data):
    x, y = data
    model = ModelConfig(width=8, depth=2)
    ensemble = build_ensemble(D, C, model, SEEDS)
    for tensor in ensemble.parameters():
        tensor[1].zero_()  # model 1 outputs equal logits for every sample
    recorder = Recorder()
    Engine(model, TrainConfig(epochs=1), C).fit(ensemble, x, y, hooks=[recorder])
    assert torch.equal(recorder.states[0].correct[1], y == 0)


def test_bf16_stays_close_to_fp32(data):
    x, y = data
    model = ModelConfig(width=8, depth=2)
    radii = []
    for precision in ("fp32", "bf16"):
        recorder = Recorder()
        Engine(model, TrainConfig(epochs=2, precision=precision), C).fit(
            build_ensemble(D, C, model, SEEDS), x, y, hooks=[recorder])
        radii.append(torch.stack([state.radii for state in recorder.states]))
    torch.testing.assert_close(radii[0], radii[1], atol=2e-2, rtol=0)


def test_a_model_without_training_samples_is_refused(data):
    x, y = data
    model = ModelConfig(width=8, depth=1)
    mask = torch.ones(len(SEEDS), N, dtype=torch.bool)
    mask[2] = False
    with pytest.raises(ValueError, match="at least one training sample"):
        Engine(model, TrainConfig(epochs=1), C).fit(build_ensemble(D, C, model, SEEDS), x, y, train_mask=mask)


def test_batch_order_puts_each_models_samples_first_in_a_seeded_shuffle():
    mask = torch.tensor([[True, False, True, True, False], [False, False, True, False, False]])
    first = compute_batch_order(mask, torch.Generator().manual_seed(3))
    again = compute_batch_order(mask, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert set(first[0, :3].tolist()) == {0, 2, 3} and set(first[0, 3:].tolist()) == {1, 4}
    assert first[1, 0].item() == 2


def test_flops_count_the_three_products_of_each_layer():
    # first layer: forward + weight gradient (no input gradient); later layers: all three products
    assert flops_per_sample_epoch(784, ModelConfig(width=20, depth=2), 10) == 4 * 784 * 20 + 6 * (20 * 20 + 20 * 10)
