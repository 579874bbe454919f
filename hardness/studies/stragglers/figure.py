"""The radii figure of a `hardness run`, drawn from the run's tensors with the report's figure builder (pure)."""

from __future__ import annotations

import pandas as pd
import torch
from matplotlib.figure import Figure

from hardness.identifiers.stragglers import StragglerRun
from hardness.studies.report.aggregate import summarise_classes, summarise_curves
from hardness.studies.report.figures import plot_radii


def radii_frames(run: StragglerRun, labels: torch.Tensor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves long [seed, epoch, class, radius] without NaN, per seed and class [seed, class, inversion_epoch
    (NaN: never), stragglers]) of the run's models."""
    epochs, k, n_classes = run.radii.shape
    grid = torch.cartesian_prod(torch.arange(epochs), torch.arange(k), torch.arange(n_classes))
    curves = pd.DataFrame({"epoch": grid[:, 0].numpy(), "seed": grid[:, 1].numpy(), "class": grid[:, 2].numpy(),
                           "radius": run.radii.reshape(-1).numpy()}).dropna()
    counts = torch.stack([torch.bincount(labels[row], minlength=n_classes) for row in run.hard])
    inversion = run.inversion_epoch.double().masked_fill(run.inversion_epoch < 0, float("nan"))
    per_seed = pd.DataFrame({"seed": torch.arange(k).repeat_interleave(n_classes).numpy(),
                             "class": torch.arange(n_classes).repeat(k).numpy(),
                             "inversion_epoch": inversion.reshape(-1).numpy(),
                             "stragglers": counts.reshape(-1).numpy()})
    return curves, per_seed


def build_radii_figure(run: StragglerRun, labels: torch.Tensor, *, title: str, warmup: int) -> Figure:
    """Mean ± std radius per class over epochs across seeds, inversion epochs marked (the report's figure)."""
    curves, per_seed = radii_frames(run, labels)
    return plot_radii(summarise_curves(curves), summarise_classes(per_seed), title=title, warmup=warmup)
