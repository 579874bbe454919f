"""Load and prepare datasets (SPEC section 1): read a source (hardness.datasets), seeded shuffle and subset, scale,
standardise, flatten, optional label noise. Every sample keeps its original index (position in train+test, in the
user's file, or the ids an npz gives), and the class names and file paths its source has, for tables.

Pure except for reading files; torchvision, scikit-learn, pandas and PIL are imported only when a source is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from hardness.catalogue import DATASETS, SOURCES
from hardness.config import DataConfig
from hardness.datasets import read_source
from hardness.datasets.builtin import digits_file
from hardness.datasets.cifar import FILES as CIFAR_FILES
from hardness.datasets.idx import RAW_FILES
from hardness.datasets.raw import RawData
from hardness.errors import UserError


@dataclass(frozen=True)
class Dataset:
    """Prepared samples: x [N, D] float32 standardised, y/clean_y [N] int64, index [N] original positions.

    class_names [C] when the source names its classes, paths [N] when its samples are files, image_shape (C, H, W)
    when they are images (x holds them flattened in that order), feature_names [D] when they are table columns.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    clean_y: torch.Tensor
    index: torch.Tensor
    n_classes: int
    flipped: torch.Tensor
    fingerprint: str
    class_names: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    image_shape: tuple[int, int, int] | None = None
    feature_names: tuple[str, ...] | None = None

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def is_flipped(self) -> torch.Tensor:
        """Bool [N]: the sample's label was flipped by label noise."""
        return self.y != self.clean_y


@dataclass(frozen=True)
class DatasetInfo:
    """What `hardness datasets` shows: sizes of the full dataset and whether its files are present (sizes None for a
    format of a user's own data not read)."""

    name: str
    n_samples: int | None
    n_features: int | None
    n_classes: int | None
    available: bool | None
    location: str
    source: str


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Read `config.name` and prepare it as SPEC section 1 says; the same config and seed give the same data."""
    return prepare(read_source(config), config, seed)


def dataset_name(config: DataConfig) -> str:
    """The name runs are tagged with: the built-in dataset's, or `<format>:<file or folder name>` for a user's own."""
    return f"{config.name}:{Path(config.path).name}" if config.name in SOURCES else config.name


def prepare(raw: RawData, config: DataConfig, seed: int) -> Dataset:
    """Shuffle with `seed`, keep the first subset_size, scale pixels to [0, 1], flatten, standardise (one mean and std
    for images, one per feature for tables, or as data.standardise says), flip labels when asked."""
    available = raw.n_samples
    size = available if config.subset_size is None else config.subset_size
    name = dataset_name(config)
    if size > available:
        raise UserError(f"subset_size {size} is larger than the {available} samples of {name}")
    order = torch.randperm(available, generator=torch.Generator().manual_seed(seed))[:size]
    x = raw.samples[order].reshape(size, -1).to(torch.float32) / raw.scale
    per_feature = config.standardise == "feature" or (config.standardise == "auto" and raw.image_shape is None)
    if x.shape[1] == 0:
        pass  # a recording's samples: labels only, nothing to standardise
    elif per_feature:
        std, mean = torch.std_mean(x, dim=0, correction=0)
        x = (x - mean) / torch.where(std > 0, std, 1.0)  # a constant feature stays 0
    else:
        std, mean = torch.std_mean(x, correction=0)
        x = (x - mean) / std
    clean_y = raw.labels[order].to(torch.int64)
    index = raw.index[order]
    y, flipped = clean_y, torch.empty(0, dtype=torch.int64)
    if config.label_noise > 0:
        y, positions = compute_label_noise(clean_y, config.label_noise, raw.n_classes, seed + 1)
        flipped = index[positions].sort().values
    paths = None if raw.paths is None else tuple(raw.paths[i] for i in order.tolist())
    return Dataset(name=name, x=x, y=y, clean_y=clean_y, index=index, n_classes=raw.n_classes, flipped=flipped,
                   fingerprint=_fingerprint(x, y, index), class_names=raw.class_names, paths=paths,
                   image_shape=raw.image_shape, feature_names=raw.feature_names)


def compute_label_noise(
    labels: torch.Tensor, fraction: float, n_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip exactly round(fraction * N) labels, each to a uniformly random other class.

    Returns (noisy labels [N] int64, flipped positions [M] int64, sorted); deterministic for a seed.
    """
    if not 0.0 <= fraction <= 1.0:
        raise UserError(f"label noise fraction must be in [0, 1], got {fraction}")
    n = labels.shape[0]
    count = round(fraction * n)
    if n_classes < 2:
        raise UserError(f"label noise needs at least 2 classes, got {n_classes}")
    generator = torch.Generator().manual_seed(seed)
    positions = torch.randperm(n, generator=generator)[:count].sort().values
    # Adding 1..n_classes-1 modulo n_classes hits every other class with equal chance and never the same one.
    shift = torch.randint(1, n_classes, (count,), generator=generator)
    noisy = labels.to(torch.int64).clone()
    noisy[positions] = (noisy[positions] + shift) % n_classes
    return noisy, positions


def list_datasets(root: str | Path) -> list[DatasetInfo]:
    """Every built-in dataset with its full size and whether its files exist under `root` (nothing is loaded), then
    each format of a user's own data (read from data.path)."""
    infos = []
    for name, (folder, n_samples, n_features, n_classes) in DATASETS.items():
        if folder is None:
            location, source = digits_file(), "sklearn.datasets.load_digits (bundled, no network)"
            available = location is not None and Path(location).is_file()
        else:
            files = CIFAR_FILES if name == "cifar10" else RAW_FILES
            where = Path(root) / folder if name == "cifar10" else Path(root) / folder / "raw"
            location, source = str(where), f"torchvision's files in {folder}"
            available = all((where / file).is_file() for file in files)
        infos.append(DatasetInfo(name, n_samples, n_features, n_classes, available, location or "", source))
    infos += [DatasetInfo(name, None, None, None, None, "data.path", f"your own data: {what}")
              for name, what in SOURCES.items()]
    return infos


def read_dataset_info(config: DataConfig) -> DatasetInfo:
    """One dataset read in full (a user's own at data.path, or a built-in one): its sizes as `hardness datasets`
    shows them."""
    raw = read_source(config)
    location = config.path if config.name in SOURCES else config.root
    return DatasetInfo(dataset_name(config), raw.n_samples, int(raw.samples[0].numel()), raw.n_classes, True,
                       str(location), SOURCES.get(config.name, "built-in"))


def _fingerprint(x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> str:
    """First 16 hex digits of sha256 over x, y and index: names the exact prepared data."""
    digest = hashlib.sha256()
    for tensor in (x, y, index):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
