"""Stragglers: inversion watching on planted radius curves, own/last snapshots, the compact history, retries."""

import pytest
import torch

import hardness.identifiers.stragglers as stragglers
from hardness.config import InversionConfig, load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine import EpochState
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers.inversion import CorrectnessHistory
from hardness.identifiers.stragglers import InversionWatcher, find_stragglers

RULE = InversionConfig(warmup=20, check_every=5)
LAST = RULE.model_copy(update={"mode": "last"})
LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def _curve(turn: int | None, epochs: int) -> torch.Tensor:
    """Radius shrinking until `turn` then growing (None: shrinks for ever)."""
    t = torch.arange(epochs + 1, dtype=torch.float32)
    if turn is None:
        return 1.0 / (1 + t)
    return (t - turn).abs() / 100 + 0.1


def _watcher(rule: InversionConfig, k: int, epochs: int, *, stop: bool = False,
             watch: torch.Tensor | None = None) -> InversionWatcher:
    watch = torch.ones(k, 2, dtype=torch.bool) if watch is None else watch
    return InversionWatcher(rule, len(LABELS), 2, epochs=epochs, watch=watch, stop_when_inverted=stop)


def _replay(watcher: InversionWatcher, radii: torch.Tensor, correct_at) -> list:
    stops = []
    for epoch in range(radii.shape[0]):
        models = torch.arange(radii.shape[1])
        state = EpochState(epoch, models, torch.zeros(len(models)),
                           {"radii": radii[epoch], "correct": correct_at(epoch)})
        stops.append(watcher.on_epoch_end(state))
    return stops


def _sample_0_and_3_learned_late(epoch: int) -> torch.Tensor:
    """Sample 0 (class 0) wrong until epoch 40; sample 3 (class 1) wrong until 55; sample 4 always wrong."""
    right = torch.ones(1, 6, dtype=torch.bool)
    right[0, 0] = epoch >= 40
    right[0, 3] = epoch >= 55
    right[0, 4] = False
    return right


def test_each_class_takes_stragglers_at_its_own_inversion_or_the_last():
    epochs = 60
    # class 0 turns at 27 -> first check with growth is 30 (R(30) > R(25)); class 1 turns at 41 -> 45
    radii = torch.stack([_curve(27, epochs), _curve(41, epochs)], dim=1).unsqueeze(1)  # [E+1, K=1, C=2]
    watcher = _watcher(RULE, 1, epochs)
    _replay(watcher, radii, _sample_0_and_3_learned_late)
    assert watcher.inversion_epoch.tolist() == [[30, 45]]
    own = watcher.derive(LABELS)
    assert own.inversion_epoch.tolist() == [[30, 45]]
    # own: class 0 at 30 -> sample 0 wrong; class 1 at 45 -> samples 3 and 4 wrong
    assert own.hard[0].nonzero().flatten().tolist() == [0, 3, 4]
    # last: all classes at epoch 45 -> sample 0 already right, 3 and 4 wrong
    assert watcher.derive(LABELS, LAST).hard[0].nonzero().flatten().tolist() == [3, 4]


def test_class_that_never_inverts_is_reported_and_flags_nothing_in_either_mode():
    epochs = 80
    radii = torch.stack([_curve(None, epochs), _curve(30, epochs)], dim=1).unsqueeze(1)
    watcher = _watcher(RULE, 1, epochs)
    _replay(watcher, radii, lambda epoch: torch.zeros(1, 6, dtype=torch.bool))
    for rule in (RULE, LAST):
        found = watcher.derive(LABELS, rule)
        assert found.inversion_epoch.tolist() == [[-1, 35]]
        # the inverted class keeps its stragglers ("last" reads them at the last inversion, 35); class 0 has none
        assert found.hard[0].tolist() == [False, False, False, True, True, True]


def test_growth_during_warmup_is_ignored_and_stop_is_requested_once_all_inverted():
    epochs = 60
    # grows during warm-up (epochs 0-20), then shrinks until 33, then grows
    t = torch.arange(epochs + 1, dtype=torch.float32)
    curve = torch.where(t <= 20, t / 100, (t - 33).abs() / 100 + 0.05)
    radii = torch.stack([curve, curve], dim=1).unsqueeze(1)
    watcher = _watcher(RULE, 1, epochs, stop=True)
    stops = _replay(watcher, radii, lambda epoch: torch.ones(1, 6, dtype=torch.bool))
    assert watcher.inversion_epoch.tolist() == [[40, 40]]
    assert [epoch for epoch, stop in enumerate(stops) if bool(stop.any())][0] == 40


def test_online_inversions_equal_the_offline_derivation_on_random_curves():
    generator = torch.Generator().manual_seed(0)
    epochs = 120
    radii = torch.rand(epochs + 1, 4, 2, generator=generator).cumsum(0) / 50 + torch.rand(epochs + 1, 4, 2, generator=generator)
    rule = InversionConfig(warmup=7, check_every=3, smoothing=4)
    watcher = _watcher(rule, 4, epochs)
    _replay(watcher, radii, lambda epoch: torch.rand(4, 6, generator=generator) > 0.5)
    assert torch.equal(watcher.inversion_epoch, watcher.derive(LABELS).inversion_epoch)


def test_correctness_history_replays_any_epoch_exactly():
    generator = torch.Generator().manual_seed(1)
    dense = torch.rand(30, 3, 50, generator=generator) > 0.7  # [E+1, K, N]
    history = CorrectnessHistory(3, 50)
    for epoch in range(30):
        history.record(epoch, torch.arange(3), dense[epoch])
    labels = torch.randint(0, 4, (50,), generator=generator)
    epochs = torch.randint(-1, 30, (3, 4), generator=generator)
    expected = torch.zeros(3, 50, dtype=torch.bool)
    for k in range(3):
        for i in range(50):
            epoch = int(epochs[k, labels[i]])
            expected[k, i] = dense[epoch, k, i] if epoch >= 0 else False
    assert torch.equal(history.at(epochs, labels), expected)
    assert history.stored_flips < dense.numel()


def test_correctness_history_keeps_a_stopped_model_at_its_last_state():
    history = CorrectnessHistory(2, 3)
    history.record(0, torch.arange(2), torch.tensor([[True, False, True], [False, False, False]]))
    history.record(1, torch.tensor([1]), torch.tensor([[True, True, True]]))  # model 0 stopped
    epochs = torch.tensor([[1], [1]])
    assert history.at(epochs, torch.zeros(3, dtype=torch.long)).tolist() == [[True, False, True], [True, True, True]]


def _planted_training(attempts: list[list[int | None]], epochs: int = 60):
    """A stand-in for watch_training: attempt j gives every model class curves turning at attempts[j] (None:
    never), and every sample of class c is misclassified until epoch 10 * (c + 3), so a snapshot's epoch shows."""
    calls = []

    def train(dataset, config, model_seeds, *, watch=None, stop=False, seed, progress=None):
        turns = attempts[len(calls)]
        calls.append(len(model_seeds))
        k = len(model_seeds)
        watch = torch.ones(k, dataset.n_classes, dtype=torch.bool) if watch is None else watch
        watcher = InversionWatcher(config.inversion, dataset.n_samples, dataset.n_classes, epochs=epochs,
                                   watch=watch, stop_when_inverted=False)
        curves = torch.stack([_curve(turn, epochs) for turn in turns], dim=1)
        radii = curves.unsqueeze(1).expand(-1, k, -1)
        learned = 10 * (dataset.y + 3)
        _replay(watcher, radii, lambda epoch: (epoch >= learned).unsqueeze(0).expand(k, -1))
        return watcher

    return train, calls


@pytest.fixture(scope="module")
def tiny():
    config = load_config(None, ["data.subset_size=60", "seeds=2", "inversion.warmup=20", "inversion.check_every=5"])
    return config, load_dataset(config.data, config.seed)


def test_last_mode_retries_the_whole_model_when_a_class_never_inverts(tiny, monkeypatch):
    config, dataset = tiny
    config = config.model_copy(update={"inversion": config.inversion.model_copy(update={"mode": "last"})})
    never = [27] * 9 + [None]          # class 9 never inverts: every class inverts at 30 but class 9
    fixed = [27] * 8 + [41, 41]        # the retry: classes 8 and 9 invert at 45 (the model's last inversion)
    train, calls = _planted_training([never, fixed])
    monkeypatch.setattr(stragglers, "watch_training", train)
    lines = []
    run = find_stragglers(dataset, config, derive_model_seeds(0, 2), seed=0,
                          progress=lambda done, total, status: lines.append(status))
    assert calls == [2, 2]  # both models retried as a whole
    assert lines[-1] == f"{int((run.inversion_epoch >= 0).sum())}/20 classes inverted after retry 1" \
        == "20/20 classes inverted after retry 1"  # the progress line ends on what the table shows
    assert run.attempt.tolist() == [[1] * 10, [1] * 10]
    assert run.inversion_epoch[0].tolist() == [30] * 8 + [45, 45]
    # every class read at epoch 45: classes learned after 45 (10 * (c + 3) > 45: c >= 2) are stragglers
    assert torch.equal(run.hard[0], dataset.y >= 2) and torch.equal(run.hard[1], dataset.y >= 2)


def test_last_mode_keeps_the_inverted_classes_when_retries_do_not_help(tiny, monkeypatch):
    config, dataset = tiny
    config = config.model_copy(update={"inversion": config.inversion.model_copy(update={"mode": "last"})})
    never = [27] * 9 + [None]
    train, calls = _planted_training([never, never, never])
    monkeypatch.setattr(stragglers, "watch_training", train)
    run = find_stragglers(dataset, config, derive_model_seeds(0, 2), seed=0)
    assert calls == [2, 2, 2]
    assert run.attempt.tolist() == [[0] * 10, [0] * 10]  # no retry inverted more classes: the first attempt stays
    assert run.inversion_epoch[0].tolist() == [30] * 9 + [-1]
    # classes 0-8 read at the last inversion (30): learned after 30 -> c >= 1; class 9 flags nothing
    assert torch.equal(run.hard[0], (dataset.y >= 1) & (dataset.y != 9))


def test_own_mode_retries_only_the_missing_class(tiny, monkeypatch):
    config, dataset = tiny
    never = [27] * 9 + [None]
    late = [None] * 9 + [41]
    train, calls = _planted_training([never, late])
    monkeypatch.setattr(stragglers, "watch_training", train)
    run = find_stragglers(dataset, config, derive_model_seeds(0, 2), seed=0)
    assert run.attempt.tolist() == [[0] * 9 + [1]] * 2
    assert run.inversion_epoch[0].tolist() == [30] * 9 + [45]
    # classes 0-8 at 30 (learned after 30: c >= 1), class 9 at 45 (learned at 120 > 45)
    assert torch.equal(run.hard[0], dataset.y >= 1)
