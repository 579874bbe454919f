"""Skipping idle models: a chunk or mini-batch trains only the models with samples in it, with the same results."""

import pytest
import torch

from hardness.config import ModelConfig, TrainConfig
from hardness.engine import Engine, Hook
from hardness.engine.divergence import DivergenceGuard
from hardness.engine.ensemble import build_ensemble
from hardness.engine.kernels import compute_sample_order, find_label_runs
from hardness.engine.passes import compute_active_ranges

N, D, C = 120, 24, 3
SIZES = [120, 120, 80, 80, 30, 30, 6, 6]  # nested sets, two models each, largest first


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(N, D, generator=generator)
    x[:, :5] = 0.3  # constant features take the folded path
    y = torch.randint(0, C, (N,), generator=generator)
    order = torch.randperm(N, generator=generator)  # nested sets scattered over the caller's order
    mask = torch.zeros(len(SIZES), N, dtype=torch.bool)
    for row, size in enumerate(SIZES):
        mask[row, order[:size]] = True
    return x, y, mask


class Losses(Hook):
    """Keeps each epoch's loss and, when it asks for them, radii and correctness."""

    def __init__(self, observes=frozenset()):
        self.observes, self.states = frozenset(observes), []

    def on_epoch_end(self, state):
        self.states.append(state)


def fit(data, train, *, skip_idle, models=None, observes=()):
    x, y, mask = data
    models = torch.arange(len(SIZES)) if models is None else models
    ensemble = build_ensemble(D, C, ModelConfig(width=8), [100 + int(k) for k in models])
    guard, recorder = DivergenceGuard(len(models), train.epochs), Losses(observes)
    engine = Engine(ModelConfig(width=8), train, C, skip_idle=skip_idle)
    fitted = engine.fit(ensemble, x, y, train_mask=mask[models], hooks=[guard, recorder], seed=3)
    return fitted, guard, recorder


TRAINS = [
    TrainConfig(epochs=6, lr=0.3, momentum=0.9, chunk_size=16),
    TrainConfig(epochs=6, lr=0.01, optimizer="adam", weight_decay=0.01, chunk_size=16),
    TrainConfig(epochs=4, lr=0.2, momentum=0.5, batch_size=8, chunk_size=16),
    TrainConfig(epochs=4, lr=0.01, optimizer="adam", batch_size=8, chunk_size=16),
]


@pytest.mark.parametrize("train", TRAINS, ids=["full-sgd", "full-adam", "mini-sgd", "mini-adam"])
@pytest.mark.parametrize("order", ["by-size", "shuffled"])
def test_skipping_idle_models_gives_the_dense_parameters_and_losses(data, train, order):
    """Bit-identical: the models left out of a chunk would only add exact zeros to their gradients."""
    models = None if order == "by-size" else torch.tensor([6, 0, 3, 5, 1, 7, 2, 4])
    skipped, skipped_guard, _ = fit(data, train, skip_idle=True, models=models)
    dense, dense_guard, _ = fit(data, train, skip_idle=False, models=models)
    for a, b in zip(skipped.ensemble.parameters(), dense.ensemble.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(skipped_guard.loss, dense_guard.loss)
    assert torch.isfinite(dense_guard.loss).all()
    initial = build_ensemble(D, C, ModelConfig(width=8), [100 + k for k in range(len(SIZES))])
    assert not torch.equal(skipped.ensemble.weights[0], initial.weights[0])  # it trained


def test_observations_over_all_samples_are_unaffected_by_skipping(data):
    train = TrainConfig(epochs=3, lr=0.3, chunk_size=16)
    names = {"radii", "correct", "loss", "margin"}
    (_, _, skipped), (_, _, dense) = (fit(data, train, skip_idle=skip, observes=names) for skip in (True, False))
    for a, b in zip(skipped.states, dense.states):
        assert a.observed.keys() == b.observed.keys() == names
        for name in names:
            assert torch.equal(a.observed[name], b.observed[name]), name
        assert a.observed["loss"].shape == (len(SIZES), N)


def test_loss_is_each_models_mean_over_its_own_training_samples(data):
    x, y, mask = data
    train = TrainConfig(epochs=1, chunk_size=16)
    _, guard, _ = fit(data, train, skip_idle=True)
    initial = build_ensemble(D, C, ModelConfig(width=8), [100 + k for k in range(len(SIZES))])
    logits = Engine(ModelConfig(width=8), train, C).predict(initial, x)
    expected = torch.stack([torch.nn.functional.cross_entropy(logits[k][mask[k]], y[mask[k]])
                            for k in range(len(SIZES))])
    assert torch.allclose(guard.loss[0], expected, atol=1e-6)


def test_active_ranges_on_hand_built_weights():
    weight = torch.zeros(4, 10)
    weight[0, :10] = 0.1  # everywhere
    weight[1, :6] = 0.2
    weight[2, :3] = 0.3
    weight[3, 8] = 0.5  # a model whose only sample sits in the last chunk
    ranges = compute_active_ranges(weight, chunk_size=4)
    assert ranges == [slice(0, 3), slice(0, 2), slice(0, 4)]
    assert compute_active_ranges(weight[1:3], chunk_size=4) == [slice(0, 2), slice(0, 1), slice(0, 0)]
    assert compute_active_ranges(weight[2:], chunk_size=3) == [slice(0, 1), slice(0, 0), slice(1, 2), slice(0, 0)]


def test_samples_go_by_coverage_then_class_so_nested_sets_are_prefixes(data):
    _, y, mask = data
    order = compute_sample_order(y, mask.sum(0))
    sorted_mask = mask[:, order]
    for row, size in enumerate(SIZES):
        assert sorted_mask[row, :size].all() and not sorted_mask[row, size:].any()
    ends = [r.stop for r in compute_active_ranges(sorted_mask.float(), chunk_size=16)]
    assert ends == [8, 6, 4, 4, 4, 2, 2, 2] and all(r.start == 0 for r in compute_active_ranges(sorted_mask, 16))
    assert torch.equal(compute_sample_order(y), torch.argsort(y, stable=True))
    labels = torch.tensor([2, 2, 0, 1, 1, 1, 0])
    assert find_label_runs(labels) == ((2, 0, 2), (0, 2, 3), (1, 3, 6), (0, 6, 7))
    assert find_label_runs(compute_sample_order(labels, torch.tensor([1, 2, 2, 1, 2, 1, 1]))) != ()
