"""CIFAR-10 read offline from torchvision's layout ROOT/cifar-10-batches-py/ (the pickled batches data_batch_1..5,
test_batch and batches.meta); train then test, position = original index. Downloading is an explicit choice.

The batches are read directly (as torchvision reads them) rather than through torchvision.datasets.CIFAR10, whose
checksums refuse any file but the published ones; a damaged batch is named with what is wrong with it.
"""

from __future__ import annotations

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
    images, labels = [], []
    for name in BATCHES:
        batch = _unpickle(folder / name)
        data, targets = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != np.prod(SHAPE) or targets is None \
                or len(targets) != len(data):
            raise UserError(f"the cifar10 file {folder / name} is damaged: it does not hold 'data' [n, 3072] and n "
                            f"'labels'; replace it with an intact copy")
        images.append(torch.from_numpy(data.astype(np.uint8).reshape(-1, *SHAPE)))
        labels.append(torch.as_tensor(np.asarray(targets, dtype=np.int64)))
    names = _unpickle(folder / META).get("label_names")
    if not isinstance(names, list) or len(names) != DATASETS["cifar10"].n_classes:
        raise UserError(f"the cifar10 file {folder / META} is damaged: it does not hold 10 'label_names'; replace it "
                        f"with an intact copy")
    labels = torch.cat(labels)
    if labels.min() < 0 or labels.max() >= len(names):
        raise UserError(f"the cifar10 batches in {folder} are damaged: labels outside 0..{len(names) - 1}; replace "
                        f"them with intact copies")
    return RawData(torch.cat(images), labels, torch.arange(len(labels)), len(names), 255.0, SHAPE,
                   class_names=tuple(str(name) for name in names))


def _unpickle(path: Path) -> dict:
    """One pickled batch as a dict with text keys; a file that is no such pickle is named as damaged."""
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
    except OSError as error:
        raise UserError(f"cannot read the cifar10 file {path}: {error.strerror}") from None
    except Exception as error:  # unpickling a damaged file fails in many ways (EOFError, UnpicklingError, ...)
        raise UserError(f"the cifar10 file {path} is damaged: {type(error).__name__}: {error}; replace it with an "
                        f"intact copy") from None
    if not isinstance(entry, dict):
        raise UserError(f"the cifar10 file {path} is damaged: it holds a {type(entry).__name__}, not a batch")
    return entry
