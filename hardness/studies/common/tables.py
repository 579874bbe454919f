"""Pure builders of the tables that runs log as artifacts and commands print (pandas in, pandas out)."""

from __future__ import annotations

import pandas as pd
import torch

from hardness.datasets.prepare import Dataset


def build_sample_table(dataset: Dataset, positions: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per sample at `positions` (all when None): original index, label (noisy and clean), and the class name
    and file path when the dataset has them."""
    positions = torch.arange(dataset.n_samples) if positions is None else positions
    labels = dataset.y[positions]
    table = pd.DataFrame({
        "original_index": dataset.index[positions].numpy(),
        "label": labels.numpy(),
        "clean_label": dataset.clean_y[positions].numpy(),
    })
    if dataset.class_names is not None:
        table["class_name"] = [dataset.class_names[label] for label in labels.tolist()]
    if dataset.paths is not None:
        table["path"] = [dataset.paths[position] for position in positions.tolist()]
    return table


def build_score_table(dataset: Dataset, scores: torch.Tensor, seeds: list[int]) -> pd.DataFrame:
    """Every sample (build_sample_table) with its score under each model: columns seed_<k> for k in `seeds`, from
    scores [K', N] (row i is model seeds[i])."""
    table = build_sample_table(dataset)
    return pd.concat([table, pd.DataFrame(scores.t().numpy(), columns=[f"seed_{k}" for k in seeds])], axis=1)


def build_hard_set_table(dataset: Dataset, hard: torch.Tensor, *, scores: torch.Tensor | None = None,
                         inversion_epoch: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per hard sample of one model: build_sample_table's columns, score, class inversion epoch."""
    positions = hard.nonzero().squeeze(1)
    labels = dataset.y[positions]
    table = build_sample_table(dataset, positions)
    if scores is not None:
        table["score"] = scores[positions].numpy()
    if inversion_epoch is not None:
        table["inversion_epoch"] = inversion_epoch[labels].numpy()
    return table


def build_radii_table(radii: torch.Tensor) -> pd.DataFrame:
    """Radius curves [E+1, C] of one model as a wide table: epoch, class_0, class_1, ... (observed epochs only)."""
    observed = ~torch.isnan(radii).all(dim=1)
    table = pd.DataFrame(radii[observed].numpy(), columns=[f"class_{c}" for c in range(radii.shape[1])])
    table.insert(0, "epoch", observed.nonzero().squeeze(1).numpy())
    return table


def summarise_radii(radii: torch.Tensor) -> pd.DataFrame:
    """Mean and (population) std over models of radii [E+1, K, C], long format: epoch, class, mean, std, n_models."""
    epochs, _, n_classes = radii.shape
    n_models = (~torch.isnan(radii)).sum(1)
    table = pd.DataFrame({
        "epoch": torch.arange(epochs).repeat_interleave(n_classes).numpy(),
        "class": torch.arange(n_classes).repeat(epochs).numpy(),
        "mean": radii.nanmean(1).flatten().numpy(),
        "std": _nanstd(radii, dim=1).flatten().numpy(),
        "n_models": n_models.flatten().numpy(),
    })
    return table[table["n_models"] > 0].reset_index(drop=True)


def summarise_inversions(inversion_epoch: torch.Tensor, hard: torch.Tensor, labels: torch.Tensor) -> pd.DataFrame:
    """Per class over K models: mean/std inversion epoch (inverted models only), models not inverted, mean stragglers."""
    n_classes = inversion_epoch.shape[1]
    counts = torch.stack([torch.bincount(labels[row], minlength=n_classes) for row in hard]).float()
    epochs = inversion_epoch.float().masked_fill(inversion_epoch < 0, float("nan"))
    return pd.DataFrame({
        "class": range(n_classes),
        "inversion_epoch_mean": epochs.nanmean(0).numpy(),
        "inversion_epoch_std": _nanstd(epochs, dim=0).numpy(),
        "not_inverted": (inversion_epoch < 0).sum(0).numpy(),
        "stragglers_mean": counts.mean(0).numpy(),
        "stragglers_std": counts.std(0, correction=0).numpy(),
    })


def _nanstd(values: torch.Tensor, *, dim: int) -> torch.Tensor:
    mean = values.nanmean(dim, keepdim=True)
    return ((values - mean) ** 2).nanmean(dim).sqrt()
