"""Load and prepare datasets (SPEC section 1): concatenate train+test, seeded shuffle and subset, scale,
standardise, flatten, optional label noise. Every sample keeps its original index in train+test.

Pure except for reading files; torchvision and scikit-learn are imported only when a dataset is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from hardness.config import DataConfig
from hardness.errors import HardnessError

# name -> (torchvision class / folder name or None for the bundled digits, samples, features, classes)
_CATALOGUE: dict[str, tuple[str | None, int, int, int]] = {
    "digits": (None, 1797, 64, 10),
    "mnist": ("MNIST", 70_000, 784, 10),
    "fashion-mnist": ("FashionMNIST", 70_000, 784, 10),
    "kmnist": ("KMNIST", 70_000, 784, 10),
}
_RAW_FILES = tuple(f"{part}-{kind}-ubyte" for part in ("train", "t10k") for kind in ("images-idx3", "labels-idx1"))


@dataclass(frozen=True)
class Dataset:
    """Prepared samples: x [N, D] float32 standardised, y/clean_y [N] int64, index [N] original positions."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    clean_y: torch.Tensor
    index: torch.Tensor
    n_classes: int
    flipped: torch.Tensor
    fingerprint: str

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
    """What `hardness datasets` shows: sizes of the full dataset and whether its files are present."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    available: bool
    location: str
    source: str


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Read `config.name` and prepare it as SPEC section 1 says; the same config and seed give the same data."""
    pixels, labels, max_value = _read_raw(config)
    available = pixels.shape[0]
    size = available if config.subset_size is None else config.subset_size
    if size > available:
        raise HardnessError(f"subset_size {size} is larger than the {available} samples of {config.name}")
    index = torch.randperm(available, generator=torch.Generator().manual_seed(seed))[:size]
    x = pixels[index].reshape(size, -1).to(torch.float32) / max_value
    std, mean = torch.std_mean(x, correction=0)
    x = (x - mean) / std
    clean_y = labels[index].to(torch.int64)
    n_classes = _CATALOGUE[config.name][3]
    y, flipped = clean_y, torch.empty(0, dtype=torch.int64)
    if config.label_noise > 0:
        y, positions = compute_label_noise(clean_y, config.label_noise, n_classes, seed + 1)
        flipped = index[positions].sort().values
    return Dataset(name=config.name, x=x, y=y, clean_y=clean_y, index=index, n_classes=n_classes,
                   flipped=flipped, fingerprint=_fingerprint(x, y, index))


def compute_label_noise(
    labels: torch.Tensor, fraction: float, n_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip exactly round(fraction * N) labels, each to a uniformly random other class.

    Returns (noisy labels [N] int64, flipped positions [M] int64, sorted); deterministic for a seed.
    """
    if not 0.0 <= fraction <= 1.0:
        raise HardnessError(f"label noise fraction must be in [0, 1], got {fraction}")
    n = labels.shape[0]
    count = round(fraction * n)
    if n_classes < 2:
        raise HardnessError(f"label noise needs at least 2 classes, got {n_classes}")
    generator = torch.Generator().manual_seed(seed)
    positions = torch.randperm(n, generator=generator)[:count].sort().values
    # Adding 1..n_classes-1 modulo n_classes hits every other class with equal chance and never the same one.
    shift = torch.randint(1, n_classes, (count,), generator=generator)
    noisy = labels.to(torch.int64).clone()
    noisy[positions] = (noisy[positions] + shift) % n_classes
    return noisy, positions


def list_datasets(root: str | Path) -> list[DatasetInfo]:
    """Every known dataset with its full size and whether its files exist under `root` (nothing is loaded)."""
    infos = []
    for name, (folder, n_samples, n_features, n_classes) in _CATALOGUE.items():
        if folder is None:
            location, source = _digits_file(), "sklearn.datasets.load_digits (bundled, no network)"
            available = location is not None and Path(location).is_file()
        else:
            raw = Path(root) / folder / "raw"
            location, source = str(raw), f"torchvision.datasets.{folder}"
            available = all((raw / file).is_file() for file in _RAW_FILES)
        infos.append(DatasetInfo(name, n_samples, n_features, n_classes, available, location or "", source))
    return infos


def _read_raw(config: DataConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Unprepared pixels [N, ...], labels [N] in original order (train then test), and the pixel maximum."""
    folder = _CATALOGUE[config.name][0]
    if folder is None:
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        return torch.from_numpy(images), torch.from_numpy(labels), 16.0
    import torchvision.datasets

    cls = getattr(torchvision.datasets, folder)
    raw = Path(config.root) / folder / "raw"
    try:
        parts = [cls(config.root, train=train, download=config.download) for train in (True, False)]
    except (RuntimeError, OSError) as error:
        raise HardnessError(_unavailable_message(config, raw, error)) from None
    except (AssertionError, ValueError, TypeError):
        raise HardnessError(f"{config.name}: the files in {raw} are not valid IDX files; replace them") from None
    return torch.cat([part.data for part in parts]), torch.cat([part.targets for part in parts]), 255.0


def _unavailable_message(config: DataConfig, raw: Path, error: Exception) -> str:
    """One line saying where the data was looked for and how to get it there."""
    files = ", ".join(_RAW_FILES)
    if config.download:
        reason = [line.strip() for line in str(error).splitlines() if line.strip()]
        return (f"could not download {config.name} into {raw} ({reason[-1] if reason else type(error).__name__}); "
                f"check the network, or put the four raw files ({files}) there by hand")
    return (f"{config.name} not found in {raw}: put the four torchvision raw files ({files}) there, "
            f"or pass --set data.download=true where the network allows (choose the root with --data-root)")


def _digits_file() -> str | None:
    """Path of scikit-learn's bundled digits file, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz")


def _fingerprint(x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> str:
    """First 16 hex digits of sha256 over x, y and index: names the exact prepared data."""
    digest = hashlib.sha256()
    for tensor in (x, y, index):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
