"""What every source reader returns: the samples as read, class ids, original ids and what to carry for tables.

`check_finite` and `check_classes` hold the rules a source obeys (finite features, every class with two samples), so
a bad file is one line naming the file and what is wrong with it, whichever format it came in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hardness.config import DataConfig
from hardness.errors import UserError

MIN_CLASS_SIZE = 2
"""Samples every class needs: a class radius, a train/test split and a per-class threshold all need two."""


@dataclass(frozen=True)
class RawData:
    """A source as read, in its original order.

    samples [N, ...] numeric (pixels [N, C, H, W] or [N, H, W] for images, [N, D] for tables), labels [N] int64 class
    ids 0..n_classes-1, index [N] int64 original ids; `scale` brings pixels to [0, 1] (1 for tables); class_names [C]
    when the labels had names, feature_names [D] for tables, paths [N] for files of an image folder.
    """

    samples: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    n_classes: int
    scale: float = 1.0
    image_shape: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])


def source_path(config: DataConfig, *, folder: bool = False) -> Path:
    """`data.path`, which must exist (a folder when `folder`): one line naming it otherwise."""
    path = Path(config.path)
    kind = "folder" if folder else "file"
    if not path.exists():
        raise UserError(f"data.path {path} not found (data.name {config.name} reads a {kind} there): check the path")
    if folder != path.is_dir():
        raise UserError(f"data.path {path} is {'not ' if folder else ''}a folder; data.name {config.name} reads a "
                        f"{kind}")
    return path


def check_finite(raw: RawData, where: str) -> None:
    """Refuse samples holding NaN or infinite features, no samples or no features at all: one line naming `where`."""
    if raw.n_samples == 0:
        raise UserError(f"{where} holds no samples")
    if raw.samples[0].numel() == 0:
        raise UserError(f"{where} holds no features (samples of shape {list(raw.samples.shape[1:])}): give each sample "
                        f"at least one feature column or value")
    if raw.samples.is_floating_point():
        bad = ~torch.isfinite(raw.samples.reshape(raw.n_samples, -1))
        if bad.any():
            rows, columns = bad.nonzero(as_tuple=True)
            feature = raw.feature_names[columns[0]] if raw.feature_names else f"feature {int(columns[0])}"
            raise UserError(f"{where} holds {int(bad.sum())} NaN or infinite feature values in {rows.unique().numel()} "
                            f"samples (first: sample {int(raw.index[rows[0]])}, {feature}): drop or fill them")


def check_classes(raw: RawData, where: str) -> None:
    """Refuse data with a class of fewer than MIN_CLASS_SIZE samples, naming the classes (and their names)."""
    counts = torch.bincount(raw.labels, minlength=raw.n_classes).tolist()
    few = [f"{raw.class_names[c] if raw.class_names else c} ({n})" for c, n in enumerate(counts) if n < MIN_CLASS_SIZE]
    if few:
        raise UserError(f"{where} holds fewer than {MIN_CLASS_SIZE} samples of class{'es' if len(few) > 1 else ''} "
                        f"{', '.join(few)} (samples in brackets): every class needs {MIN_CLASS_SIZE}; add samples or "
                        f"drop the class")
