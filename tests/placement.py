"""What the device tests share: every tensor inside a result, a hook that sees every observation, and the small
computations (engine, identifiers, a grid unit) that the CPU tests and the CUDA equivalence tests both run."""

from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass

import torch

from hardness.config import load_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.engine import NAMES, EpochState, Hook
from hardness.engine.factory import build_engine
from hardness.engine.seeds import derive_model_seeds

SMALL = ["seed=1", "train.epochs=30", "inversion.warmup=5", "inversion.max_retries=0", "data.subset_size=300",
         "imbalance.inits=2", "imbalance.train_ratios=[0.7]", "imbalance.remaining=[0.5,1]"]
"""Digits, small enough for every identifier in a few seconds, long enough for inversions."""


def small_problem(*overrides: str):
    """(dataset on the CPU, config) of SMALL plus `overrides`."""
    config = load_config(None, [*SMALL, *overrides])
    return load_dataset(config.data, config.seed), config


def tensors_in(value) -> Iterator[torch.Tensor]:
    """Every tensor inside `value`: tensors, dataclasses, mappings, lists and tuples, recursively."""
    if isinstance(value, torch.Tensor):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            yield from tensors_in(getattr(value, field.name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from tensors_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)


def devices_in(value) -> set[torch.device]:
    return {tensor.device for tensor in tensors_in(value)}


class Collector(Hook):
    """Asks for every observation at every epoch; keeps the devices of all it is handed, and radii and losses."""

    observes = frozenset(NAMES)

    def __init__(self) -> None:
        self.devices: set[torch.device] = set()
        self.radii: list[torch.Tensor] = []
        self.loss: list[torch.Tensor] = []

    def on_chunk(self, epoch, models, positions, observed) -> None:
        self.devices |= devices_in([models, positions, observed])

    def on_epoch_end(self, state: EpochState) -> None:
        self.devices |= devices_in(state)
        self.radii.append(state.radii.cpu())
        self.loss.append(state.loss.cpu())


def fit_observed(dataset: Dataset, config, n_models: int = 3):
    """Fit n_models models on the dataset's device with a Collector: (collector, fitted result)."""
    engine, ensemble = build_engine(config, dataset, derive_model_seeds(config.seed, n_models))
    collector = Collector()
    fitted = engine.fit(ensemble, dataset.x, dataset.y, hooks=[collector], seed=config.seed)
    return collector, fitted
