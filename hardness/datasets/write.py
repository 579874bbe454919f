"""Write a source's samples, chosen by original id, into a folder in the source's own format, so a user can train
on what is left (`hardness export --clean-out`): npz, csv and parquet keep every array or column of their file,
an image folder becomes links to its files (copies where links are refused), a built-in dataset an npz file that
`data.name: npz` reads back. `relabel` ({original id: class id}, from a diagnosis) gives samples a new label, written
as the source writes labels (the class ids' values in sorted order, as hardness.datasets.labels reads them; an image
of an image folder goes under its new class's folder)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardness.config import DataConfig
from hardness.datasets.raw import source_path


def write_subset(config: DataConfig, keep: np.ndarray, out: Path, relabel: dict[int, int] | None = None) -> Path:
    """Write the samples of `config`'s data whose original ids are in `keep` under folder `out`, those in `relabel`
    with their new class; returns the file (or, for an image folder, the folder) that holds them."""
    out.mkdir(parents=True, exist_ok=True)
    writer = WRITERS.get(config.name, _write_builtin)
    return writer(config, np.asarray(keep), out, relabel or {})


def relabelled(values: np.ndarray, ids: np.ndarray, relabel: dict[int, int]) -> np.ndarray:
    """Labels as read [N] (of the samples with original ids [N]) with those in `relabel` set to their new class's
    value: class c is the c-th of the sorted distinct labels."""
    if not relabel:
        return values
    classes = np.unique(values.astype(str) if values.dtype.kind == "O" else values)
    new = np.array([relabel.get(int(i), -1) for i in ids])
    changed = new >= 0
    out = values.copy()
    out[changed] = classes[new[changed]]
    return out


def _write_npz(config: DataConfig, keep: np.ndarray, out: Path, relabel: dict[int, int]) -> Path:
    """The npz file's arrays, each with one entry per sample cut to the kept ones (others, e.g. names, as they are)."""
    path = source_path(config)
    with np.load(path, allow_pickle=False) as arrays:
        found = {key: arrays[key] for key in arrays.files}
    n = len(found["y"])
    ids = found.get("index", np.arange(n))
    found["y"] = relabelled(found["y"], ids, relabel)
    rows = np.isin(ids, keep)
    target = out / path.name
    np.savez(target, **{key: value[rows] if value.shape[:1] == (n,) else value for key, value in found.items()})
    return target


def _write_table(config: DataConfig, keep: np.ndarray, out: Path, relabel: dict[int, int]) -> Path:
    """The table's kept rows with every column (row position = original id)."""
    from hardness.datasets.tabular import read_table

    frame = read_table(config)
    ids = np.arange(len(frame))
    if relabel:
        frame[config.label_column] = relabelled(frame[config.label_column].to_numpy(), ids, relabel)
    kept = frame[np.isin(ids, keep)]
    target = out / Path(config.path).name
    if config.name == "parquet":
        kept.to_parquet(target, index=False)
    else:
        kept.to_csv(target, index=False)
    return target


def _write_imagefolder(config: DataConfig, keep: np.ndarray, out: Path, relabel: dict[int, int]) -> Path:
    """out/<class>/<file> for every kept image (its new class's folder when relabelled): a link to the original, a
    copy where links are refused."""
    from torchvision.datasets import ImageFolder

    root = source_path(config, folder=True)
    folder = ImageFolder(str(root), loader=str)
    files = [Path(file) for file, _ in folder.samples]
    for position in np.flatnonzero(np.isin(np.arange(len(files)), keep)):
        source = files[position]
        target = out / source.relative_to(root)
        if int(position) in relabel:
            target = out / folder.classes[relabel[int(position)]] / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(source.resolve(), target)
        except OSError:  # no links on this file system (or for this user): copy
            shutil.copy2(source, target)
    return out


def _write_builtin(config: DataConfig, keep: np.ndarray, out: Path, relabel: dict[int, int]) -> Path:
    """A built-in dataset as <name>.npz: x (pixels as stored), y, index (original ids) and names (class names)."""
    from hardness.datasets import read_source

    raw = read_source(config)
    rows = np.isin(raw.index.numpy(), keep)
    labels = relabelled(raw.labels.numpy(), raw.index.numpy(), relabel)
    arrays = {"x": raw.samples.numpy()[rows], "y": labels[rows], "index": raw.index.numpy()[rows]}
    if raw.class_names is not None:
        arrays["names"] = np.array(raw.class_names)
    target = out / f"{config.name}.npz"
    np.savez(target, **arrays)
    return target


WRITERS: dict[str, Callable[[DataConfig, np.ndarray, Path, dict[int, int]], Path]] = {
    "npz": _write_npz, "csv": _write_table, "parquet": _write_table, "imagefolder": _write_imagefolder}
"""One writer per format of a user's own data (SOURCES); built-in datasets are written as npz."""
