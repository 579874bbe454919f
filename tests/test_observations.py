"""Every engine observation against plain nn.Modules and autograd, and nothing computed that nobody asked for."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from hardness.config import ModelConfig, TrainConfig
from hardness.engine import HEAVY, NAMES, Engine, Hook, kernels, observations
from hardness.engine.ensemble import build_ensemble, build_module, copy_into_module
from hardness.engine.radii import compute_radii

N, D, C = 90, 40, 3
SEEDS = [21, 22, 23]


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(N, D, generator=generator)
    x[:, :18], x[:, 25] = -0.4, 1.25  # constant features: 8 of them are folded into layer one's bias
    y = torch.randint(0, C, (N,), generator=generator)
    return x, y


class Everything(Hook):
    """Asks for every observation; assembles the heavy chunks into [K', N, ...] per epoch to compare them whole."""

    observes = frozenset(NAMES)

    def __init__(self):
        self.states, self.heavy, self.seen = [], {}, {}

    def on_chunk(self, epoch, models, positions, observed):
        assert set(observed) == set(HEAVY)
        store = self.heavy.setdefault(epoch, {})
        self.seen.setdefault(epoch, torch.zeros(N, dtype=torch.long))[positions] += 1
        for name, chunk in observed.items():
            assert chunk.shape[:2] == (len(models), len(positions))
            store.setdefault(name, torch.full((len(models), N, chunk.shape[2]), torch.nan))[:, positions] = chunk

    def on_epoch_end(self, state):
        self.states.append(state)


def reference(module, x, y, latent_layer):
    """Every observation of one plain module on all samples: name -> [N] or [N, ...], radii [C]."""
    rows = torch.arange(len(y))
    x = x.clone().requires_grad_(True)
    logits = module(x)
    logits[rows, y].sum().backward()  # each sample's true-class logit depends on its own row only
    logits = logits.detach()
    others = logits.clone()
    others[rows, y] = -torch.inf
    params = {name: p.detach() for name, p in module.named_parameters()}

    def sample_loss(p, xi, yi):
        return F.cross_entropy(functional_call(module, p, (xi[None],)), yi[None])

    per_sample_grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, x.detach(), y)
    latent = module[: 2 * (latent_layer + 1)](x).detach()
    return {
        "correct": logits.argmax(1) == y,
        "margin": logits[rows, y] - others.amax(1),
        "true_prob": logits.softmax(1)[rows, y],
        "loss": F.cross_entropy(logits, y, reduction="none"),
        "grad_norm": sum(g.flatten(1).square().sum(1) for g in per_sample_grads.values()).sqrt(),
        "radii": compute_radii(latent, y, C),
        "probs": logits.softmax(1),
        "logits": logits,
        "latent": latent,
        "input_grad": x.grad,
    }


def assert_observations(state, heavy, ensemble, slots, model, x, y):
    """The state's row of each model slot equals the reference of that slot's weights in `ensemble`."""
    for slot in slots:
        row = state.models.tolist().index(slot)
        module = copy_into_module(ensemble, slot, build_module(D, C, model))
        expected = reference(module, x, y, model.latent_layer)
        for name in NAMES:
            got = (heavy if name in HEAVY else state.observed)[name][row]
            if name == "correct":
                assert torch.equal(got, expected[name])
            else:
                torch.testing.assert_close(got, expected[name], atol=2e-5, rtol=1e-4, msg=f"{name} of model {slot}")


CASES = [
    pytest.param(ModelConfig(width=8, depth=2, activation="tanh"), None, id="tanh-full-batch"),
    pytest.param(ModelConfig(width=8, depth=3, activation="relu", latent_layer=1), None, id="relu-d3-full-batch"),
    pytest.param(ModelConfig(width=8, depth=1, activation="relu"), 16, id="relu-d1-minibatch"),
    pytest.param(ModelConfig(width=8, depth=2, activation="tanh", latent_layer=1), 16, id="tanh-minibatch"),
]


@pytest.mark.parametrize("in_class_order", [False, True])
@pytest.mark.parametrize(("model", "batch_size"), CASES)
def test_every_observation_equals_autograd_on_plain_modules(data, model, batch_size, in_class_order, monkeypatch):
    x, y = data
    monkeypatch.setattr(observations, "HEAVY_BYTES", 4 * len(SEEDS) * D * 5)  # input_grad in pieces of 5 samples
    if in_class_order:
        order = torch.argsort(y, stable=True)
        x, y = x[order], y[order]
    mask = torch.stack([torch.rand(N, generator=torch.Generator().manual_seed(s)) < f
                        for s, f in ((1, 1.0), (2, 0.6), (3, 0.3))])
    train = TrainConfig(lr=0.1, epochs=3, batch_size=batch_size, chunk_size=16)
    ensemble = build_ensemble(D, C, model, SEEDS)
    hook = Everything()
    result = Engine(model, train, C).fit(ensemble, x, y, train_mask=mask, hooks=[hook])
    for epoch, weights in ((0, ensemble), (train.epochs, result.ensemble)):
        state = hook.states[epoch]
        assert torch.equal(hook.seen[epoch], torch.ones(N, dtype=torch.long))
        assert torch.equal(state.train_mask, mask)
        assert_observations(state, hook.heavy[epoch], weights, [0, 1, 2], model, x, y)
    for state in hook.states:
        mean_loss = torch.stack([state.observed["loss"][k][mask[k]].mean() for k in range(len(SEEDS))])
        torch.testing.assert_close(state.loss, mean_loss, atol=1e-5, rtol=0)
        assert torch.equal(state.correct, state.observed["correct"]) and state.radii is state.observed["radii"]


def test_aten_tanh_off_the_cpu_path_trains_and_observes_alike(data, monkeypatch):
    x, y = data
    model, train = ModelConfig(width=8, depth=2, activation="tanh"), TrainConfig(lr=0.1, epochs=2, chunk_size=32)
    fast = Engine(model, train, C).fit(build_ensemble(D, C, model, SEEDS), x, y)
    monkeypatch.setattr(kernels, "FAST_TANH_DEVICES", ())  # what a GPU runs
    hook = Everything()
    result = Engine(model, train, C).fit(build_ensemble(D, C, model, SEEDS), x, y, hooks=[hook])
    for a, b in zip(result.ensemble.parameters(), fast.ensemble.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert_observations(hook.states[-1], hook.heavy[train.epochs], result.ensemble, [0, 1, 2], model, x, y)


def test_models_left_after_a_stop_are_still_observed_correctly(data):
    x, y = data
    model, train = ModelConfig(width=8, depth=2), TrainConfig(lr=0.1, epochs=4, chunk_size=32)

    class StopSecondAtTwo(Everything):
        def on_epoch_end(self, state):
            super().on_epoch_end(state)
            return (state.models == 1) if state.epoch == 2 else None

    hook = StopSecondAtTwo()
    result = Engine(model, train, C).fit(build_ensemble(D, C, model, SEEDS), x, y, hooks=[hook])
    assert result.epochs_trained.tolist() == [4, 2, 4]
    assert_observations(hook.states[2], hook.heavy[2], result.ensemble, [1], model, x, y)
    last = hook.states[-1]
    assert last.models.tolist() == [0, 2] and last.train_mask.shape == (2, N)
    assert all(tensor.shape[0] == 2 for tensor in last.observed.values())
    assert_observations(last, hook.heavy[train.epochs], result.ensemble, [0, 2], model, x, y)


def test_a_subscriber_gets_only_what_it_asked_for_and_nothing_else_is_computed(data, monkeypatch):
    x, y = data

    def refuse(*args, **kwargs):
        raise AssertionError("computed an observation nobody asked for")

    monkeypatch.setattr(observations.PassObserver, "_add_class_sums", refuse)
    for name in set(observations._PER_SAMPLE) - {"loss"}:
        monkeypatch.setitem(observations._PER_SAMPLE, name, refuse)
    for name in HEAVY:
        monkeypatch.setitem(observations._HEAVY, name, refuse)

    class LossOnly(Hook):
        observes = frozenset({"loss"})

        def __init__(self):
            self.states = []

        def on_chunk(self, *args):
            raise AssertionError("no heavy observation was asked for")

        def on_epoch_end(self, state):
            self.states.append(state)

    hook = LossOnly()
    model = ModelConfig(width=8, depth=2)
    Engine(model, TrainConfig(epochs=2), C).fit(build_ensemble(D, C, model, SEEDS), x, y, hooks=[hook])
    for state in hook.states:
        assert set(state.observed) == {"loss"} and state.observed["loss"].shape == (len(SEEDS), N)
        assert state.radii is None and state.correct is None and state.loss.shape == (len(SEEDS),)


def test_wants_can_change_with_the_epoch_and_hooks_get_only_their_heavy_names(data):
    x, y = data

    class EvenMargins(Hook):
        def __init__(self):
            self.states, self.chunks = [], []

        def wants(self, epoch):
            return {"margin", "latent"} if epoch % 2 == 0 else set()

        def on_chunk(self, epoch, models, positions, observed):
            self.chunks.append((epoch, set(observed)))

        def on_epoch_end(self, state):
            self.states.append(state)

    class Logits(EvenMargins):
        def wants(self, epoch):
            return {"logits"}

    even, logits = EvenMargins(), Logits()
    model = ModelConfig(width=8, depth=2)
    Engine(model, TrainConfig(epochs=3, chunk_size=50), C).fit(build_ensemble(D, C, model, SEEDS), x, y,
                                                                hooks=[even, logits])
    assert [set(state.observed) for state in even.states] == [{"margin"}, set(), {"margin"}, set()]
    assert even.chunks == [(0, {"latent"})] * 2 + [(2, {"latent"})] * 2
    assert logits.chunks == [(epoch, {"logits"}) for epoch in range(4) for _ in range(2)]


def test_an_unknown_observation_is_refused_with_the_valid_names(data):
    x, y = data

    class Typo(Hook):
        observes = frozenset({"radius"})

    model = ModelConfig(width=8, depth=1)
    with pytest.raises(ValueError, match="radius: not an observation; choose from correct, margin"):
        Engine(model, TrainConfig(epochs=1), C).fit(build_ensemble(D, C, model, SEEDS), x, y, hooks=[Typo()])
