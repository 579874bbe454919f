"""The built-in datasets: scikit-learn's bundled 8x8 digits and torchvision's MNIST family, read offline from
ROOT/<folder>/raw/ (downloading is an explicit choice). Train then test parts: position = original index."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from hardness.catalogue import DATASETS, IMAGE_SHAPES
from hardness.config import DataConfig
from hardness.datasets.idx import RAW_FILES, check_raw_files
from hardness.datasets.raw import RawData
from hardness.errors import UserError


def read_digits(config: DataConfig) -> RawData:
    """scikit-learn's 1,797 digits, pixels 0..16 [N, 8, 8]."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return RawData(torch.from_numpy(images).reshape(-1, *IMAGE_SHAPES["digits"]), torch.from_numpy(labels),
                   torch.arange(len(labels)), DATASETS["digits"].n_classes, 16.0, (1, *IMAGE_SHAPES["digits"]))


def read_mnist_family(config: DataConfig) -> RawData:
    """MNIST, FashionMNIST or KMNIST from the four raw IDX files (torchvision fetches them with data.download)."""
    folder = DATASETS[config.name].folder
    raw = Path(config.root) / folder / "raw"
    missing = [name for name in RAW_FILES if not (raw / name).is_file()]
    if missing and not config.download:
        raise UserError(not_found_message(config.name, raw, missing, RAW_FILES))
    import torchvision.datasets

    cls = getattr(torchvision.datasets, folder)
    if missing:
        download(lambda: cls(config.root, train=True, download=True), config.name, raw, RAW_FILES)
    check_raw_files(config.name, raw)
    parts = [cls(config.root, train=train) for train in (True, False)]
    images, labels = torch.cat([part.data for part in parts]), torch.cat([part.targets for part in parts])
    return RawData(images, labels, torch.arange(len(labels)), DATASETS[config.name].n_classes, 255.0,
                   (1, *IMAGE_SHAPES[config.name]))


def download(fetch, name: str, folder: Path, files: tuple[str, ...]) -> None:
    """Run torchvision's download `fetch`; a failure is one line with its reason and the way around it."""
    try:
        fetch()
    except (RuntimeError, OSError) as error:
        reason = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise UserError(f"could not download {name} into {folder} ({reason[-1] if reason else type(error).__name__}); "
                        f"check the network, or put the files ({', '.join(files)}) there by hand") from None


def not_found_message(name: str, folder: Path, missing: list[str], files: tuple[str, ...]) -> str:
    """One line saying where the data was looked for, what is missing and how to get it there."""
    lacking = "" if len(missing) == len(files) else f" (missing {', '.join(missing)})"
    return (f"{name} not found in {folder}{lacking}: put torchvision's files ({', '.join(files)}) there, or pass "
            f"--set data.download=true where the network allows (choose the root with --data-root)")


def digits_file() -> str | None:
    """Path of scikit-learn's bundled digits file, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz")
