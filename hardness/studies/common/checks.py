"""Settings judged against the prepared data, before any run starts: every class holds enough samples, and a
top-k threshold asks for no more samples than there are. Each failure is a UserError naming what to change."""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.datasets.raw import MIN_CLASS_SIZE
from hardness.errors import UserError


def check_fits_data(config: Config, dataset: Dataset) -> None:
    """Refuse a config that the prepared `dataset` cannot serve (see the module docstring)."""
    counts = torch.bincount(dataset.y, minlength=dataset.n_classes).tolist()
    size = config.data.subset_size
    data = f"the {size}-sample subset of {dataset.name}" if size else dataset.name
    if dataset.n_classes < 2:  # hardness is measured against the other classes: one class gives meaningless results
        raise UserError(f"{data} holds one class only: hard samples are told apart from the other classes, so give "
                        f"data with at least two")
    few = _name_classes(counts, MIN_CLASS_SIZE)
    if few:
        fix = "raise --subset-size" if size else "use complete data files"
        raise UserError(f"{data} leaves {few} with fewer than {MIN_CLASS_SIZE} samples (samples in brackets); "
                        f"every class needs {MIN_CLASS_SIZE}: {fix}")
    threshold = config.threshold
    if threshold.method != "top_k":
        return
    if threshold.level == "dataset" and threshold.k > dataset.n_samples:
        raise UserError(f"threshold.k {threshold.k} asks for more hard samples than the {dataset.n_samples} of {data}: "
                        f"lower threshold.k")
    few = _name_classes(counts, threshold.k)
    if threshold.level == "class" and few:
        raise UserError(f"threshold.k {threshold.k} per class asks for more hard samples than {few} of {data} hold "
                        f"(samples in brackets): lower threshold.k")


def _name_classes(counts: list[int], minimum: int) -> str:
    """'class 3 (1)' or 'classes 3 (1), 7 (0)' for the classes with fewer than `minimum` samples; '' if none."""
    named = [f"{label} ({count})" for label, count in enumerate(counts) if count < minimum]
    return f"class{'es' if len(named) > 1 else ''} {', '.join(named)}" if named else ""


def check_grid_sets(hard: torch.Tensor, config: Config, identifier: str, *, left_out: torch.Tensor | None = None) -> None:
    """Refuse hard sets [K, N] that the imbalance grid cannot split: at every train ratio both the hard and the easy
    samples of each set (rows in `left_out` [K] excepted) need a training and a test part."""
    for k, row in enumerate(hard):
        if left_out is not None and left_out[k]:
            continue
        sizes = {"hard": int(row.sum()), "easy": int((~row).sum())}
        for group, n in sizes.items():
            if any(not 0 < round(ratio * n) < n for ratio in config.imbalance.train_ratios):
                raise UserError(
                    f"hard set {k} of {identifier} holds {sizes['hard']} hard and {sizes['easy']} easy samples: too "
                    f"few {group} samples to split at imbalance.train_ratios {list(config.imbalance.train_ratios)}; "
                    f"{_GRID_FIXES[group]}")


_GRID_FIXES = {
    "hard": "flag more samples (stragglers: classes must invert within train.epochs, so raise train.epochs or lower "
            "inversion.warmup; scores: raise threshold.k or lower threshold.quantile) or use more data",
    "easy": "flag fewer samples (lower threshold.k or raise threshold.quantile) or use more data",
}
