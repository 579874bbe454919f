"""Stragglers: inversion watching on planted radius curves, snapshots at each class's own inversion, retries."""

import torch

from hardness.config import InversionConfig
from hardness.engine import EpochState
from hardness.identifiers.stragglers import InversionWatcher

RULE = InversionConfig(warmup=20, check_every=5)
LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def _curve(turn: int | None, epochs: int) -> torch.Tensor:
    """Radius shrinking until `turn` then growing (None: shrinks for ever)."""
    t = torch.arange(epochs + 1, dtype=torch.float32)
    if turn is None:
        return 1.0 / (1 + t)
    return (t - turn).abs() / 100 + 0.1


def _replay(watcher: InversionWatcher, radii: torch.Tensor, correct_at) -> list:
    stops = []
    for epoch in range(radii.shape[0]):
        models = torch.arange(radii.shape[1])
        state = EpochState(epoch, models, torch.zeros(len(models)), radii[epoch], correct_at(epoch))
        stops.append(watcher.on_epoch_end(state))
    return stops


def test_each_class_takes_stragglers_at_its_own_inversion():
    epochs = 60
    # class 0 turns at 27 -> first check with growth is 30 (R(30) > R(25)); class 1 turns at 41 -> 45
    radii = torch.stack([_curve(27, epochs), _curve(41, epochs)], dim=1).unsqueeze(1)  # [E+1, K=1, C=2]

    def correct_at(epoch):
        # sample 0 (class 0) is wrong until epoch 40; sample 3 (class 1) wrong until 55; sample 4 always wrong
        right = torch.ones(1, 6, dtype=torch.bool)
        right[0, 0] = epoch >= 40
        right[0, 3] = epoch >= 55
        right[0, 4] = False
        return right

    watcher = InversionWatcher(RULE, LABELS, 2, epochs=epochs, watch=torch.ones(1, 2, dtype=torch.bool),
                               stop_when_inverted=False)
    _replay(watcher, radii, correct_at)
    assert watcher.inversion_epoch.tolist() == [[30, 45]]
    # own: class 0 at 30 -> sample 0 wrong; class 1 at 45 -> samples 3 and 4 wrong
    assert watcher.own[0].nonzero().flatten().tolist() == [0, 3, 4]
    # last: all classes at epoch 45 -> sample 0 already right, 3 and 4 wrong
    assert watcher.last[0].nonzero().flatten().tolist() == [3, 4]
    assert watcher.last_epoch.tolist() == [45]


def test_class_that_never_inverts_is_reported_and_nothing_is_flagged():
    epochs = 80
    radii = torch.stack([_curve(None, epochs), _curve(30, epochs)], dim=1).unsqueeze(1)
    watcher = InversionWatcher(RULE, LABELS, 2, epochs=epochs, watch=torch.ones(1, 2, dtype=torch.bool),
                               stop_when_inverted=False)
    _replay(watcher, radii, lambda epoch: torch.zeros(1, 6, dtype=torch.bool))
    assert watcher.inversion_epoch.tolist() == [[-1, 35]]
    assert watcher.own[0].tolist() == [False, False, False, True, True, True]
    assert not bool(watcher.last.any()) and watcher.last_epoch.tolist() == [-1]


def test_growth_during_warmup_is_ignored_and_stop_is_requested_once_all_inverted():
    epochs = 60
    # grows during warm-up (epochs 0-20), then shrinks until 33, then grows
    t = torch.arange(epochs + 1, dtype=torch.float32)
    curve = torch.where(t <= 20, t / 100, (t - 33).abs() / 100 + 0.05)
    radii = torch.stack([curve, curve], dim=1).unsqueeze(1)
    watcher = InversionWatcher(RULE, LABELS, 2, epochs=epochs, watch=torch.ones(1, 2, dtype=torch.bool),
                               stop_when_inverted=True)
    stops = _replay(watcher, radii, lambda epoch: torch.ones(1, 6, dtype=torch.bool))
    assert watcher.inversion_epoch.tolist() == [[40, 40]]
    assert [epoch for epoch, stop in enumerate(stops) if bool(stop.any())][0] == 40
