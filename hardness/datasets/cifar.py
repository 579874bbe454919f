"""CIFAR-10 read offline from torchvision's layout ROOT/cifar-10-batches-py/ (the pickled batches data_batch_1..5,
test_batch and batches.meta); train then test, position = original index. Downloading is an explicit choice.

The batches are pickles, and unpickling a file runs whatever code it names: each file's MD5 is checked against the one
torchvision publishes before it is unpickled, so only the published files ever reach `pickle`; any other
file, damaged or crafted, is refused by name without being opened as a pickle.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch

from hardness.catalogue import DATASETS
from hardness.config import DataConfig
from hardness.datasets.builtin import download, not_found_message
from hardness.datasets.raw import RawData
from hardness.errors import UserError

BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
META = "batches.meta"
FILES = (*BATCHES, META)
SHAPE = (3, 32, 32)


def read_cifar10(config: DataConfig) -> RawData:
    """The 60,000 images [N, 3, 32, 32] (uint8), their labels and the class names of batches.meta."""
    folder = Path(config.root) / DATASETS["cifar10"].folder
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing and not config.download:
        raise UserError(not_found_message("cifar10", folder, missing, FILES))
    if missing:
        import torchvision.datasets

        download(lambda: torchvision.datasets.CIFAR10(config.root, train=True, download=True), "cifar10", folder,
                 FILES)
    for name in FILES:  # all of them before any is unpickled
        check_published(folder / name)
    images, labels = [], []
    for name in BATCHES:
        batch = _unpickle(folder / name)
        images.append(torch.from_numpy(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, *SHAPE)))
        labels.append(torch.as_tensor(np.asarray(batch["labels"], dtype=np.int64)))
    names = _unpickle(folder / META)["label_names"]
    labels = torch.cat(labels)
    return RawData(torch.cat(images), labels, torch.arange(len(labels)), len(names), 255.0, SHAPE,
                   class_names=tuple(str(name) for name in names))


def published_checksums() -> dict[str, str]:
    """{file name: MD5} of the CIFAR-10 files as torchvision publishes them."""
    from torchvision.datasets import CIFAR10

    return {**dict(CIFAR10.train_list), **dict(CIFAR10.test_list), CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}


def check_published(path: Path) -> None:
    """Refuse (exit 2) a file whose MD5 is not the published one: damaged, cut, or not CIFAR-10 at all."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise UserError(f"cannot read the cifar10 file {path}: {error.strerror}") from None
    if digest.hexdigest() != published_checksums().get(path.name):
        raise UserError(f"the cifar10 file {path} is damaged or not the published one (its MD5 differs), so it is not "
                        f"read; replace it with an intact copy (or delete the folder and pass --set data.download=true)")


def _unpickle(path: Path) -> dict:
    """One published pickle (check_published passed) as a dict with text keys."""
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")
