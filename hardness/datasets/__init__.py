"""Dataset sources: one reader per name of `data.name` (the built-in datasets and the formats of a user's own data),
each returning the samples as read (RawData); hardness.datasets.prepare prepares them. torchvision, scikit-learn, pandas and PIL
are imported only when their source is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hardness.catalogue import IN_MEMORY, RECORDING, SOURCES
from hardness.config import DataConfig
from hardness.datasets.raw import RawData, check_classes, check_finite
from hardness.errors import UserError


def readers() -> dict[str, Callable[[DataConfig], RawData]]:
    """{data.name: its reader}, one per name of the catalogue (the readers' libraries load on first use)."""
    from hardness.datasets.arrays import read_npz
    from hardness.datasets.builtin import read_digits, read_mnist_family
    from hardness.datasets.cifar import read_cifar10
    from hardness.datasets.images import read_imagefolder
    from hardness.datasets.recording import read_recording
    from hardness.datasets.tabular import read_tabular

    return {"digits": read_digits, "mnist": read_mnist_family, "fashion-mnist": read_mnist_family,
            "kmnist": read_mnist_family, "cifar10": read_cifar10, "npz": read_npz, "csv": read_tabular,
            "parquet": read_tabular, "imagefolder": read_imagefolder, RECORDING: read_recording,
            IN_MEMORY: _refuse_in_memory}


def _refuse_in_memory(config: DataConfig) -> RawData:
    """In-memory data has no file to read: the Python API hands it over itself."""
    raise UserError(f"data.name {IN_MEMORY} is data given to the Python API in memory (hardness.score(X, y, ...)); "
                    f"to read a file use npz, csv, parquet or imagefolder with --data-path")


def read_source(config: DataConfig) -> RawData:
    """The samples of `config.name` as read, their features finite; a user's own data with two samples in every class
    (a built-in dataset's classes are judged after the subset is drawn, hardness.studies.common.checks)."""
    raw = readers()[config.name](config)
    where = f"the {config.name} data in {Path(config.path)}" if config.name in SOURCES else config.name
    if config.name != RECORDING:  # a recording holds labels only: its identifiers read logits, not features
        check_finite(raw, where)
    if config.name in SOURCES:
        check_classes(raw, where)
    return raw
