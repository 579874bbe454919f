"""The gallery a run logs for the report (pure): its hardest samples per class with their agreement and score and,
for images, their pixels, so the report draws them from the tracking store alone (no data files, no torch)."""

from __future__ import annotations

import pandas as pd
import torch

from hardness.datasets.prepare import Dataset
from hardness.studies.common.tables import build_sample_table
from hardness.studies.export.table import Flags, build_export_table, rank_hardest

PER_CLASS = 8
"""Samples shown per class."""


def build_gallery(dataset: Dataset, name: str, hard: torch.Tensor, scores: torch.Tensor | None = None, *,
                  per_class: int = PER_CLASS) -> pd.DataFrame:
    """The `per_class` hardest samples of each class under identifier `name` (hard masks [K, N] and scores [K, N] of
    the models kept): rank_hardest's rows, plus pixel_<i> (0..255) and image_shape 'CxHxW' for images."""
    flags = Flags(hard.numpy(), None if scores is None else scores.numpy())
    table = build_export_table(build_sample_table(dataset), {name: flags})
    gallery = rank_hardest(table, name, per_class)
    if dataset.image_shape is None or gallery.empty:
        return gallery
    positions = pd.Index(dataset.index.numpy()).get_indexer(gallery["original_index"])
    # images are standardised by one scalar mean and std: the data's darkest and brightest values are pixels 0 and 1
    low, high = dataset.x.min(), dataset.x.max()
    pixels = ((dataset.x[torch.from_numpy(positions)] - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    columns = pd.DataFrame((pixels * 255).round().to(torch.uint8).numpy(),
                           columns=[f"pixel_{i}" for i in range(pixels.shape[1])])
    shape = "x".join(str(size) for size in dataset.image_shape)
    return pd.concat([gallery.assign(image_shape=shape), columns], axis=1)
