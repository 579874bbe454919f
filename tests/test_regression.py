"""Pinned straggler identification of a fixed digits config ("own" mode, default rule): indices and epochs must not
drift. The values were recorded before the engine/straggler-rule redesign and must stay identical after it."""

import hashlib

import pytest
import torch

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers.stragglers import find_stragglers

PINNED = {
    60: {"inversion_epoch": [[25] * 10, [25] * 7 + [-1, 25, 25], [25] * 7 + [-1, 25, 25]],
         "attempt": [[0, 1, 0, 0, 1, 0, 2, 2, 0, 0], [1, 0, 0, 0, 1, 0, 2, 0, 0, 0], [0, 0, 2, 2, 0, 0, 0, 0, 0, 0]],
         "counts": [201, 240, 167], "digests": ["fae282378458c6f6", "52cae9697fbbf0be", "6fc673562530406f"]},
    120: {"inversion_epoch": [[25] * 6 + [90, 25, 25, 25], [25] * 6 + [80, 105, 25, 25], [25] * 7 + [85, 25, 25]],
          "attempt": [[0, 1, 0, 0, 1, 0, 0, 2, 0, 0], [1, 0, 0, 0, 1, 0, 0, 2, 0, 0], [0, 0, 2, 2, 0, 0, 0, 1, 0, 0]],
          "counts": [198, 196, 167], "digests": ["7c2aa0724a429363", "9b0f9472946535e1", "6fc673562530406f"]},
}


def _digest(indices: torch.Tensor) -> str:
    return hashlib.sha256(",".join(map(str, indices.sort().values.tolist())).encode()).hexdigest()[:16]


@pytest.mark.parametrize("epochs", sorted(PINNED))
def test_own_mode_stragglers_are_pinned(epochs):
    """60 epochs leaves classes uninverted after two retries; both budgets exercise retries."""
    config = load_config(None, ["seeds=3", f"train.epochs={epochs}", "data.subset_size=600"])
    dataset = load_dataset(config.data, config.seed)
    run = find_stragglers(dataset, config, derive_model_seeds(config.seed, 3), seed=config.seed)
    pinned = PINNED[epochs]
    assert run.inversion_epoch.tolist() == pinned["inversion_epoch"]
    assert run.attempt.tolist() == pinned["attempt"]
    assert run.hard.sum(1).tolist() == pinned["counts"]
    assert [_digest(dataset.index[row]) for row in run.hard] == pinned["digests"]
