"""The names `hardness` accepts for datasets and identifiers, importable without torch.

The CLI shows and completes these names while staying instant, and the config refuses any other before a store
or a run is opened. The dataset entries are the datasets' facts (hardness.data reads them); IDENTIFIERS mirrors
the identifier registry (hardness.identifiers), which a test keeps equal to it.
"""

from __future__ import annotations

from typing import NamedTuple


class DatasetEntry(NamedTuple):
    """A known dataset: its torchvision class and folder name (None for the bundled digits) and its full size."""

    folder: str | None
    n_samples: int
    n_features: int
    n_classes: int


DATASETS: dict[str, DatasetEntry] = {
    "digits": DatasetEntry(None, 1797, 64, 10),
    "mnist": DatasetEntry("MNIST", 70_000, 784, 10),
    "fashion-mnist": DatasetEntry("FashionMNIST", 70_000, 784, 10),
    "kmnist": DatasetEntry("KMNIST", 70_000, 784, 10),
}
IDENTIFIERS: tuple[str, ...] = ("confidence", "energy", "stragglers")

