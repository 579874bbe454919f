"""Write a source's samples, chosen by original id, into a folder in the source's own format, so a user can train
on what is left (`hardness export --clean-out`): npz, csv and parquet keep every array or column of their file,
an image folder becomes links to its files (copies where links are refused), a built-in dataset an npz file that
`data.name: npz` reads back."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardness.config import DataConfig
from hardness.datasets.raw import source_path


def write_subset(config: DataConfig, keep: np.ndarray, out: Path) -> Path:
    """Write the samples of `config`'s data whose original ids are in `keep` under folder `out`; returns the file
    (or, for an image folder, the folder) that holds them."""
    out.mkdir(parents=True, exist_ok=True)
    writer = WRITERS.get(config.name, _write_builtin)
    return writer(config, np.asarray(keep), out)


def _write_npz(config: DataConfig, keep: np.ndarray, out: Path) -> Path:
    """The npz file's arrays, each with one entry per sample cut to the kept ones (others, e.g. names, as they are)."""
    path = source_path(config)
    with np.load(path, allow_pickle=False) as arrays:
        found = {key: arrays[key] for key in arrays.files}
    n = len(found["y"])
    rows = np.isin(found.get("index", np.arange(n)), keep)
    target = out / path.name
    np.savez(target, **{key: value[rows] if value.shape[:1] == (n,) else value for key, value in found.items()})
    return target


def _write_table(config: DataConfig, keep: np.ndarray, out: Path) -> Path:
    """The table's kept rows with every column (row position = original id)."""
    from hardness.datasets.tabular import read_table

    frame = read_table(config)
    kept = frame[np.isin(np.arange(len(frame)), keep)]
    target = out / Path(config.path).name
    if config.name == "parquet":
        kept.to_parquet(target, index=False)
    else:
        kept.to_csv(target, index=False)
    return target


def _write_imagefolder(config: DataConfig, keep: np.ndarray, out: Path) -> Path:
    """out/<class>/<file> for every kept image: a link to the original, a copy where links are refused."""
    from torchvision.datasets import ImageFolder

    root = source_path(config, folder=True)
    files = [Path(file) for file, _ in ImageFolder(str(root), loader=str).samples]
    for position in np.flatnonzero(np.isin(np.arange(len(files)), keep)):
        source = files[position]
        target = out / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(source.resolve(), target)
        except OSError:  # no links on this file system (or for this user): copy
            shutil.copy2(source, target)
    return out


def _write_builtin(config: DataConfig, keep: np.ndarray, out: Path) -> Path:
    """A built-in dataset as <name>.npz: x (pixels as stored), y, index (original ids) and names (class names)."""
    from hardness.datasets import read_source

    raw = read_source(config)
    rows = np.isin(raw.index.numpy(), keep)
    arrays = {"x": raw.samples.numpy()[rows], "y": raw.labels.numpy()[rows], "index": raw.index.numpy()[rows]}
    if raw.class_names is not None:
        arrays["names"] = np.array(raw.class_names)
    target = out / f"{config.name}.npz"
    np.savez(target, **arrays)
    return target


WRITERS: dict[str, Callable[[DataConfig, np.ndarray, Path], Path]] = {
    "npz": _write_npz, "csv": _write_table, "parquet": _write_table, "imagefolder": _write_imagefolder}
"""One writer per format of a user's own data (SOURCES); built-in datasets are written as npz."""
