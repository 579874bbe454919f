"""A user's NumPy .npz file: x [N, ...] numeric samples and y [N] labels, optionally index [N] (the samples' own ids,
unique integers) and names [C] (class names of integer labels y in 0..C-1).

x [N, H, W], [N, H, W, C] or [N, C, H, W] (C = 1 or 3) is read as images; x [N, D] (or any other shape) as features.
"""

from __future__ import annotations

import zipfile

import numpy as np
import torch

from hardness.config import DataConfig
from hardness.datasets.labels import encode_labels
from hardness.datasets.raw import RawData, source_path
from hardness.errors import UserError

CHANNELS = (1, 3)


def read_npz(config: DataConfig) -> RawData:
    """The arrays of data.path as RawData (images in [N, C, H, W] order)."""
    path = source_path(config)
    where = f"the npz file {path}"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"cannot read {where}: {error}") from None
    missing = [key for key in ("x", "y") if key not in found]
    if missing:
        raise UserError(f"{where} has no array {' or '.join(missing)} (it holds {', '.join(found) or 'nothing'}): save "
                        f"samples as x [N, ...] and labels as y [N]")
    return raw_from_arrays(found["x"], found["y"], where, names=found.get("names"), index=found.get("index"))


def raw_from_arrays(x: np.ndarray, y: np.ndarray, where: str, *, names: np.ndarray | None = None,
                    index: np.ndarray | None = None) -> RawData:
    """Samples x [N, ...] (images in [N, H, W], [N, H, W, C] or [N, C, H, W]; uint8 pixels scaled by 255) and labels
    y [N] as RawData, as an npz file holding them is read."""
    if x.dtype.kind not in "biuf" or x.ndim < 2:
        raise UserError(f"x of {where} must be numbers [N, ...] with features per sample, not {x.dtype} {x.shape}")
    if len(y) != len(x):
        raise UserError(f"{where} holds {len(x)} samples in x but {len(y)} labels in y")
    samples, shape = _as_images(x)
    labels, n_classes, names = _labels(y, names, where)
    return RawData(torch.from_numpy(samples), labels, _index(index, len(x), where), n_classes,
                   255.0 if x.dtype == np.uint8 else 1.0, shape, names,
                   None if shape else tuple(f"x{i}" for i in range(int(np.prod(x.shape[1:])))))


def _as_images(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """(samples, (C, H, W)) for image-shaped x, channels moved first; (x, None) for features."""
    x = x.astype(np.float32) if x.dtype.kind == "b" else x
    if x.ndim == 3:
        return x[:, None], (1, *x.shape[1:])
    if x.ndim == 4 and x.shape[-1] in CHANNELS and x.shape[1] not in CHANNELS:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim == 4 and x.shape[1] in CHANNELS:
        return x, tuple(x.shape[1:])
    return x, None


def _labels(y: np.ndarray, names: np.ndarray | None, where: str) -> tuple[torch.Tensor, int, tuple[str, ...] | None]:
    """Class ids, count and names: y indexes `names` when given, else encode_labels."""
    if names is None:
        return encode_labels(y, where)
    if y.dtype.kind not in "iu" or names.ndim != 1 or (len(y) and not 0 <= y.min() <= y.max() < len(names)):
        raise UserError(f"with names [C], y of {where} must hold integer class ids 0..C-1 (C = {names.size})")
    return torch.from_numpy(y.astype(np.int64)), len(names), tuple(str(name) for name in names)


def _index(index: np.ndarray | None, n: int, where: str) -> torch.Tensor:
    """The samples' own ids (unique integers [N]), else their positions in the file."""
    if index is None:
        return torch.arange(n)
    if index.dtype.kind not in "iu" or index.shape != (n,) or len(np.unique(index)) != n:
        raise UserError(f"index of {where} must hold {n} unique integers, one per sample")
    return torch.from_numpy(index.astype(np.int64))
