"""Load and prepare datasets (SPEC section 1): concatenate train+test, seeded shuffle and subset, scale,
standardise, flatten, optional label noise. Every sample keeps its original index in train+test.

Pure except for reading files; torchvision and scikit-learn are imported only when a dataset is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from hardness.catalogue import DATASETS
from hardness.config import DataConfig
from hardness.errors import UserError

_PARTS = ("train", "t10k")
_RAW_FILES = tuple(f"{part}-{kind}-ubyte" for part in _PARTS for kind in ("images-idx3", "labels-idx1"))


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
        raise UserError(f"subset_size {size} is larger than the {available} samples of {config.name}")
    index = torch.randperm(available, generator=torch.Generator().manual_seed(seed))[:size]
    x = pixels[index].reshape(size, -1).to(torch.float32) / max_value
    std, mean = torch.std_mean(x, correction=0)
    x = (x - mean) / std
    clean_y = labels[index].to(torch.int64)
    n_classes = DATASETS[config.name].n_classes
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
    """Every known dataset with its full size and whether its files exist under `root` (nothing is loaded)."""
    infos = []
    for name, (folder, n_samples, n_features, n_classes) in DATASETS.items():
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
    folder = DATASETS[config.name].folder
    if folder is None:
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        return torch.from_numpy(images), torch.from_numpy(labels), 16.0
    raw = Path(config.root) / folder / "raw"
    missing = [name for name in _RAW_FILES if not (raw / name).is_file()]
    if missing and not config.download:
        raise UserError(_not_found_message(config, raw, missing))
    import torchvision.datasets

    cls = getattr(torchvision.datasets, folder)
    if missing:
        try:
            cls(config.root, train=True, download=True)  # fetches all four files
        except (RuntimeError, OSError) as error:
            raise UserError(_download_failed_message(config, raw, error)) from None
    check_raw_files(config.name, raw)
    parts = [cls(config.root, train=train) for train in (True, False)]
    return torch.cat([part.data for part in parts]), torch.cat([part.targets for part in parts]), 255.0


def check_raw_files(name: str, raw: Path) -> None:
    """Refuse a damaged raw file (cut short, or not an IDX file of unsigned bytes), naming it and the damage."""
    for part in _PARTS:
        counts = []
        for kind, ndim in (("images-idx3", 3), ("labels-idx1", 1)):
            path = raw / f"{part}-{kind}-ubyte"
            try:
                with open(path, "rb") as handle:
                    header = handle.read(4 + 4 * ndim)
                size = path.stat().st_size
            except OSError as error:
                raise UserError(f"cannot read the {name} file {path}: {error.strerror}") from None
            damage = find_idx_damage(header, size, ndim)
            if damage is not None:
                raise UserError(f"the {name} file {path} is damaged: {damage}; replace it with an intact copy")
            counts.append(struct.unpack(">I", header[4:8])[0])
        if counts[0] != counts[1]:
            raise UserError(f"the {name} files {part}-*-ubyte in {raw} do not match: {counts[0]} images but "
                            f"{counts[1]} labels; replace them with intact copies")


def find_idx_damage(header: bytes, size: int, ndim: int) -> str | None:
    """Why an IDX file of `size` bytes starting with `header` is not an `ndim`-d array of unsigned bytes, else None.

    IDX: the magic bytes 00 00 08 <ndim>, each dimension as a big-endian uint32, then the values, one byte each.
    """
    magic = bytes([0, 0, 0x08, ndim])
    if header[:4] != magic:
        return f"its header starts with {header[:4].hex(' ') or 'nothing'}, not the IDX magic {magic.hex(' ')}"
    length = 4 + 4 * ndim
    if len(header) < length:
        return f"it ends inside its header ({size} bytes)"
    dims = struct.unpack(f">{ndim}I", header[4:length])
    expected = length + math.prod(dims)
    if size != expected:
        verdict = "it is cut short" if size < expected else "it has bytes to spare"
        return (f"it holds {size:,} bytes where its header ({' x '.join(map(str, dims))} values) announces "
                f"{expected:,}: {verdict}")
    return None


def _not_found_message(config: DataConfig, raw: Path, missing: list[str]) -> str:
    """One line saying where the data was looked for, what is missing and how to get it there."""
    lacking = "" if len(missing) == len(_RAW_FILES) else f" (missing {', '.join(missing)})"
    return (f"{config.name} not found in {raw}{lacking}: put the four torchvision raw files ({', '.join(_RAW_FILES)}) "
            f"there, or pass --set data.download=true where the network allows (choose the root with --data-root)")


def _download_failed_message(config: DataConfig, raw: Path, error: Exception) -> str:
    """One line saying the download failed, why (the last line of torchvision's message) and the way around it."""
    reason = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (f"could not download {config.name} into {raw} ({reason[-1] if reason else type(error).__name__}); "
            f"check the network, or put the four raw files ({', '.join(_RAW_FILES)}) there by hand")


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
