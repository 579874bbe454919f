"""The identifier zoo: planted answers and hand computations for every identifier beyond stragglers/confidence/energy.

Hand computations train the same model as a plain nn.Module with torch.optim.SGD (full batch) and compute each score
from its outputs after every step; planted answers flip a few labels and check where the flipped samples rank.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine import EpochState
from hardness.engine.ensemble import build_ensemble, build_module, copy_into_module
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers import get_identifier
from hardness.identifiers.confident_learning import compute_fold_masks, compute_folds, gather_out_of_fold
from hardness.identifiers.dynamics import Moments, Observe, training_epochs
from hardness.identifiers.forgetting import ForgettingEvents, score_forgetting
from hardness.identifiers.prototypicality import score_prototypicality, to_unit_sphere
from hardness.identifiers.vog import compute_checkpoints, normalise_per_class, score_vog
from hardness.studies.common.scoring import score_ranking

EPOCHS = 12


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    config = load_config(None, [f"train.epochs={EPOCHS}", "inversion.warmup=0", "inversion.check_every=5",
                                "data.subset_size=80"])
    return load_dataset(config.data, config.seed), config, derive_model_seeds(config.seed, 2)


def module_history(dataset, config, seeds):
    """Per seed, the plain module's logits [E+1, N, C] after 0..E full-batch SGD steps, and the modules after each
    step (a list per seed)."""
    logits, modules = [], []
    for seed in seeds:
        module = copy_into_module(build_ensemble(dataset.n_features, dataset.n_classes, config.model, [seed]), 0,
                                  build_module(dataset.n_features, dataset.n_classes, config.model))
        optimizer = torch.optim.SGD(module.parameters(), lr=config.train.lr)
        outputs, states = [], []
        for epoch in range(config.train.epochs + 1):
            outputs.append(module(dataset.x).detach())
            states.append({k: v.clone() for k, v in module.state_dict().items()})
            if epoch < config.train.epochs:
                optimizer.zero_grad()
                F.cross_entropy(module(dataset.x), dataset.y).backward()
                optimizer.step()
        logits.append(torch.stack(outputs))
        modules.append(states)
    return torch.stack(logits), modules  # [K, E+1, N, C]


def per_sample(logits, labels):
    """Margin, true-class probability and loss [..., N] from logits [..., N, C]."""
    true = logits.gather(-1, labels.expand(logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    others = logits.scatter(-1, labels.expand(logits.shape[:-1]).unsqueeze(-1), -torch.inf).amax(-1)
    log_p = torch.log_softmax(logits, -1).gather(-1, labels.expand(logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return {"margin": true - others, "true_prob": log_p.exp(), "loss": -log_p}


# name, overrides, expected scores [K, N] from the per-sample histories [K, E+1, N]
BY_HAND = [
    ("loss", [], lambda h: h["loss"][:, -1]),
    ("loss", ["identifier.loss_average=true"], lambda h: h["loss"][:, 1:].mean(1)),
    ("margin", [], lambda h: -h["margin"][:, -1]),
    ("aum", [], lambda h: -h["margin"][:, 1:].mean(1)),
    ("datamaps", [], lambda h: -h["true_prob"][:, 1:].mean(1)),
    ("datamaps_variability", [], lambda h: h["true_prob"][:, 1:].std(1, correction=0)),
]


@pytest.mark.parametrize("name, overrides, expected", BY_HAND, ids=[name + "-averaged" * bool(overrides)
                                                                    for name, overrides, _ in BY_HAND])
def test_dynamics_scores_equal_the_hand_computation(tiny, name, overrides, expected):
    dataset, config, seeds = tiny
    config = load_config(None, [f"train.epochs={EPOCHS}", "inversion.warmup=0", *overrides])
    logits, _ = module_history(dataset, config, seeds)
    history = per_sample(logits, dataset.y)
    scores = get_identifier(name).identify(dataset, config, seeds).scores
    assert torch.allclose(scores, expected(history), atol=2e-5), (scores - expected(history)).abs().max()


def test_el2n_equals_the_error_norm_at_its_epoch(tiny):
    dataset, config, seeds = tiny
    config = load_config(None, [f"train.epochs={EPOCHS}", "inversion.warmup=0", "identifier.el2n_epoch=5"])
    logits, _ = module_history(dataset, config, seeds)
    probs = torch.softmax(logits[:, 5], -1)
    expected = (probs - F.one_hot(dataset.y, dataset.n_classes)).square().sum(-1).sqrt()
    result = get_identifier("el2n").identify(dataset, config, seeds)
    assert result.details["epoch"] == 5
    assert torch.allclose(result.scores, expected, atol=2e-6)


def test_early_epochs_past_the_budget_read_the_last_epoch(tiny):
    dataset, config, seeds = tiny
    config = load_config(None, ["train.epochs=3", "inversion.warmup=0", "inversion.check_every=1"])
    assert get_identifier("el2n").identify(dataset, config, seeds).details["epoch"] == 3
    assert get_identifier("grand").identify(dataset, config, seeds).details["epoch"] == 3


def test_grand_equals_autograd_per_sample_gradient_norms(tiny):
    dataset, config, seeds = tiny
    config = load_config(None, [f"train.epochs={EPOCHS}", "inversion.warmup=0", "identifier.grand_epoch=4"])
    _, states = module_history(dataset, config, seeds)
    expected = torch.empty(len(seeds), dataset.n_samples)
    for k, history in enumerate(states):
        module = build_module(dataset.n_features, dataset.n_classes, config.model)
        module.load_state_dict(history[4])
        for i in range(dataset.n_samples):
            grads = torch.autograd.grad(F.cross_entropy(module(dataset.x[i:i + 1]), dataset.y[i:i + 1]),
                                        list(module.parameters()))
            expected[k, i] = torch.sqrt(sum(g.square().sum() for g in grads))
    scores = get_identifier("grand").identify(dataset, config, seeds).scores
    assert torch.allclose(scores, expected, rtol=1e-4, atol=1e-6)


def feed(hook, epoch, models, values):
    """Hand `values` [K', N] of the hook's observation at `epoch` to it, as the engine would."""
    observed = {next(iter(hook.observes)): values}
    hook.on_epoch_end(EpochState(epoch, models, torch.zeros(len(models)), observed))


def test_forgetting_counts_the_correct_to_incorrect_transitions_of_a_planted_sequence():
    sequences = torch.tensor([[1, 0, 1, 0, 1, 1],    # forgotten twice
                              [0, 1, 1, 1, 1, 1],    # learned once, never forgotten
                              [0, 0, 0, 0, 0, 0],    # never learned: above any count
                              [1, 1, 0, 0, 1, 0]],   # forgotten twice
                             dtype=torch.bool)
    events = ForgettingEvents((2, 4))
    hook = Observe("correct", training_epochs(6), events)
    assert list(hook.wants(0)) == [] and set(hook.wants(1)) == {"correct"}
    for epoch in range(7):  # epoch 0 (the initialisation) is not an observation of training
        feed(hook, epoch, torch.tensor([0, 1]), torch.stack([sequences[:, max(epoch - 1, 0)], ~sequences[:, 0]]))
    assert score_forgetting(events, 6)[0].tolist() == [2.0, 0.0, 6.0, 2.0]


def test_forgetting_leaves_stopped_models_where_they_were():
    events = ForgettingEvents((2, 1))
    hook = Observe("correct", training_epochs(3), events)
    feed(hook, 1, torch.tensor([0, 1]), torch.tensor([[True], [True]]))
    feed(hook, 2, torch.tensor([1]), torch.tensor([[False]]))  # model 0 stopped
    assert events.events.flatten().tolist() == [0, 1]


def test_moments_match_mean_and_population_std_over_chunks_and_model_subsets():
    values = torch.randn(5, 3, 7, 4)  # epochs, models, samples, features
    moments = Moments((3, 7, 4))
    for epoch in range(5):
        for positions in (torch.tensor([0, 3, 6]), torch.tensor([1, 2, 4, 5])):
            moments.add(torch.arange(3), positions, values[epoch][:, positions])
    assert torch.allclose(moments.mean, values.mean(0), atol=1e-6)
    assert torch.allclose(moments.std, values.std(0, correction=0), atol=1e-6)


def test_vog_on_a_planted_gradient_sequence():
    # one model, four samples of two classes, D = 2 features, three checkpoints
    gradients = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [5.0, 5.0]],
                              [[1.0, 3.0], [2.0, 2.0], [0.0, 2.0], [1.0, 5.0]],
                              [[1.0, 5.0], [2.0, 2.0], [0.0, 4.0], [3.0, 5.0]]]).unsqueeze(1)  # [M, K, N, D]
    labels = torch.tensor([0, 0, 1, 1])
    moments = Moments((1, 4, 2))
    hook = Observe("input_grad", (2, 4, 6), moments)
    for epoch, chunk in zip((2, 4, 6), gradients):
        for positions in (torch.tensor([0, 2]), torch.tensor([1, 3])):
            hook.on_chunk(epoch, torch.tensor([0]), positions, {"input_grad": chunk[:, positions]})
    std = (8 / 3) ** 0.5  # population std of (1, 3, 5), of (0, 2, 4) and of (5, 1, 3)
    raw = torch.tensor([[std / 2, 0.0, std / 2, std / 2]])  # per-feature std averaged over the two features
    assert torch.allclose(moments.std.mean(-1), raw, atol=1e-6)
    # class 0: raw (s, 0) -> (+1, -1); class 1: raw (s, s) -> std 0 -> 0
    assert torch.allclose(score_vog(moments.std, labels, 2), torch.tensor([[1.0, -1.0, 0.0, 0.0]]), atol=1e-5)


def test_vog_checkpoints_spread_over_training_and_class_normalisation():
    assert compute_checkpoints(500, 10) == tuple(range(50, 501, 50))
    assert compute_checkpoints(3, 10) == (1, 2, 3)
    values = torch.tensor([[1.0, 2.0, 3.0, 10.0, 10.0]])
    normalised = normalise_per_class(values, torch.tensor([0, 0, 0, 1, 1]), 2)
    assert torch.allclose(normalised, torch.tensor([[-1.5 ** 0.5, 0.0, 1.5 ** 0.5, 0.0, 0.0]]), atol=1e-6)


def test_prototypicality_on_planted_latents():
    latent = torch.tensor([[[2.0, 0.0], [3.0, 0.0], [5.0, 0.0], [0.0, 4.0], [0.0, -1.0], [0.0, -7.0]]])
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    unit = to_unit_sphere(latent)
    assert torch.allclose(unit.norm(dim=-1), torch.ones(1, 6))
    scores = score_prototypicality(unit, labels, 2)
    # class 0: three at (1, 0), one at (0, 1) -> mean (0.75, 0.25); class 1: both at (0, -1)
    near, far = (0.25 ** 2 + 0.25 ** 2) ** 0.5, (0.75 ** 2 + 0.75 ** 2) ** 0.5
    assert torch.allclose(scores, torch.tensor([[near, near, near, far, 0.0, 0.0]]), atol=1e-6)


@pytest.fixture(scope="module")
def flipped():
    """Digits with three planted label flips, and 60 epochs of lr 0.5 (learned, not yet memorised)."""
    config = load_config(None, ["train.epochs=60", "train.lr=0.5", "data.subset_size=300"])
    dataset = load_dataset(config.data, config.seed)
    planted = torch.tensor([5, 50, 150])
    labels = dataset.y.clone()
    labels[planted] = (labels[planted] + 3) % dataset.n_classes
    return dataclasses.replace(dataset, y=labels), config, planted


@pytest.mark.parametrize("name", ["loss", "margin", "aum", "datamaps", "el2n", "prototypicality", "cleanlab"])
def test_planted_flipped_labels_rank_among_the_hardest(flipped, name):
    dataset, config, planted = flipped
    scores = get_identifier(name).identify(dataset, config, derive_model_seeds(0, 3)).scores
    ranks = scores.argsort(1, descending=True).argsort(1)[:, planted]
    assert bool((ranks < 10).all()), ranks
    truth = torch.zeros(dataset.n_samples, dtype=torch.bool)
    truth[planted] = True
    assert min(score_ranking(row, truth)["auroc"] for row in scores) > 0.95


def test_cleanlab_flags_the_planted_flips_itself_from_out_of_fold_probabilities(flipped):
    dataset, config, planted = flipped
    result = get_identifier("cleanlab").identify(dataset, config, derive_model_seeds(0, 3))
    assert result.hard.shape == result.scores.shape and result.hard.dtype == torch.bool
    assert result.hard[:, planted].float().mean() >= 2 / 3
    assert bool((result.scores.argsort(1, descending=True)[:, 0] == planted[0]).all())


def test_cleanlab_folds_hold_each_sample_out_of_exactly_one_model():
    labels = torch.arange(40) % 4
    fold = compute_folds(labels, [7, 8], 5)
    assert torch.equal(fold, compute_folds(labels, [7, 8], 5)) and not torch.equal(fold[0], fold[1])
    assert all(torch.bincount(fold[0][labels == c], minlength=5).tolist() == [2] * 5 for c in range(4))  # stratified
    masks = compute_fold_masks(fold, 5)
    assert masks.shape == (10, 40) and bool(((~masks).view(2, 5, 40).sum(1) == 1).all())
    probs = torch.arange(10.0).view(10, 1, 1).expand(10, 40, 3)  # model m predicts m everywhere
    assert torch.equal(gather_out_of_fold(probs, fold)[..., 0], (fold + torch.tensor([[0], [5]])).float())
