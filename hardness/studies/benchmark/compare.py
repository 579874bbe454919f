"""Comparisons across identifiers (SPEC section 7) as computation: tables in, tables out (no I/O).

Hard sets of different identifiers are paired by seed: set k of every identifier comes from models
initialised with the same seed on the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place
from hardness.engine.divergence import DivergenceGuard
from hardness.engine.factory import build_engine
from hardness.engine.seeds import ERROR_STREAM, derive_model_seeds
from hardness.errors import HardnessError
from hardness.studies.benchmark.comparisons import (
    correlate_with_error,
    hard_counts_per_class,
    overlap_matrix,
    paired_difference_test,
    paired_overlap,
    stability,
)
from hardness.studies.common.metrics import compute_class_accuracy
from hardness.tracking import schema


def build_error_train_mask(config: Config, n: int) -> torch.Tensor:
    """Training masks [error_models, n] of the class-error models (drawn on the CPU: the same on every device).

    "random": each model its own random `error_train_ratio` split; "reference": every model trains on the first
    `error_train_size` samples of the (already seeded-shuffled) data and is tested on the rest, as the reference code.
    """
    benchmark, k = config.benchmark, config.benchmark.error_models
    if benchmark.error_split == "reference":
        if benchmark.error_train_size >= n:
            raise HardnessError(f"benchmark.error_train_size {benchmark.error_train_size} leaves no test samples "
                                f"out of {n}")
        mask = torch.zeros(k, n, dtype=torch.bool, device="cpu")
        mask[:, :benchmark.error_train_size] = True
        return mask
    generator = torch.Generator(device="cpu").manual_seed(config.seed + ERROR_STREAM)
    n_train = round(benchmark.error_train_ratio * n)
    order = torch.rand(k, n, generator=generator, device="cpu").argsort(dim=1)
    return torch.zeros(k, n, dtype=torch.bool, device="cpu").scatter_(1, order[:, :n_train], True)


def compute_class_error_rates(dataset: Dataset, config: Config) -> tuple[np.ndarray, torch.Tensor]:
    """(mean class error [n_classes] on held-out samples of the benchmark.error_models models that did not diverge,
    which models diverged [error_models], on the CPU); split: build_error_train_mask. Trains on config.train.device."""
    dataset = place(dataset, config)
    k, device = config.benchmark.error_models, dataset.x.device
    train_mask = build_error_train_mask(config, dataset.n_samples).to(device)
    engine, ensemble = build_engine(config, dataset, derive_model_seeds(config.seed, k, stream=ERROR_STREAM), device)
    used = train_mask.any(0)  # train on the union of the training parts only (the reference split shares one part)
    guard = DivergenceGuard(k, config.train.epochs, device=device)
    fitted = engine.fit(ensemble, dataset.x[used], dataset.y[used], train_mask=train_mask[:, used], hooks=[guard],
                        seed=config.seed)
    predictions = engine.predict(fitted.ensemble, dataset.x).argmax(dim=2)
    kept = (~guard.diverged).nonzero().flatten().tolist() or list(range(k))
    accuracies = np.stack([
        compute_class_accuracy(predictions[row:row + 1, ~train_mask[row]], dataset.y[~train_mask[row]],
                               dataset.n_classes)[0] for row in kept])
    return 1.0 - np.nanmean(accuracies, axis=0), guard.diverged.cpu()


def build_gap_table(grids: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All cells of all identifiers in one long table (identifier, hard_set, train_ratio, remaining, metrics)."""
    frames = [frame.assign(identifier=name) for name, frame in grids.items()]
    table = pd.concat(frames, ignore_index=True)
    first = ["identifier", "hard_set", "train_ratio", "remaining"]
    return table[first + [c for c in table.columns if c not in first and c != "run_id"]]


def build_headline(gaps: pd.DataFrame, sets: dict[str, torch.Tensor], class_counts: pd.DataFrame,
                   class_error: np.ndarray, *, baseline: str) -> pd.DataFrame:
    """One row per identifier: hard-set size, accuracies, easy-minus-hard gap with a paired test against
    `baseline`, overlap with the baseline, stability across seeds, and correlation with class error."""
    keys = ["hard_set", "train_ratio", "remaining"]
    base = gaps[gaps["identifier"] == baseline].set_index(keys)["gap/acc"]
    rows = []
    for name, hard in sets.items():
        mine = gaps[gaps["identifier"] == name].set_index(keys)
        paired = mine.join(base.rename("baseline_gap"), how="inner")
        test = paired_difference_test(paired["gap/acc"].to_numpy(), paired["baseline_gap"].to_numpy())
        overlap, _ = paired_overlap(hard, sets[baseline])
        stable, _ = stability(hard, measure="overlap")
        r, p = correlate_with_error(class_counts[name].to_numpy(), class_error)
        rows.append({
            "identifier": name, "hard_count": float(hard.sum(1).float().mean()),
            "acc/all": mine["acc/all"].mean(), "acc/hard": mine["acc/hard"].mean(), "acc/easy": mine["acc/easy"].mean(),
            "gap": mine["gap/acc"].mean(), "gap_std": mine["gap/acc"].std(ddof=0),
            f"gap_minus_{baseline}": test["mean_diff"], "p_value": test["p"],
            f"overlap_with_{baseline}": overlap, "stability": stable, "pearson_r_class_error": r, "pearson_p": p,
        })
    return pd.DataFrame(rows)


def build_class_count_table(sets: dict[str, torch.Tensor], labels: torch.Tensor, n_classes: int,
                            class_error: np.ndarray) -> pd.DataFrame:
    """Mean hard samples per class for each identifier, beside the class error rate."""
    table = pd.DataFrame({"class": range(n_classes), "class_error": class_error})
    for name, hard in sets.items():
        table[name] = hard_counts_per_class(hard, labels, n_classes).mean(axis=0)
    return table


def build_overlap_tables(sets: dict[str, torch.Tensor]) -> dict[str, pd.DataFrame]:
    """Overlap |A and B|/|A| (%) and Jaccard matrices, mean over paired seeds."""
    return {measure: overlap_matrix(sets, measure=measure) for measure in schema.MATRICES}


def format_headline(headline: pd.DataFrame, *, baseline: str = "stragglers") -> pd.DataFrame:
    """The headline as short display strings: size, hard / easy accuracy, gap ± std, difference to baseline (p)."""
    return pd.DataFrame({
        "identifier": headline["identifier"],
        "hard samples": headline["hard_count"].round(1),
        "acc hard": headline["acc/hard"].map("{:.3f}".format),
        "acc easy": headline["acc/easy"].map("{:.3f}".format),
        "gap (easy-hard)": [f"{g:.3f} ± {s:.3f}" for g, s in zip(headline["gap"], headline["gap_std"])],
        f"vs {baseline} (p)": [f"{d:+.3f} ({p:.2g})" for d, p in
                               zip(headline[f"gap_minus_{baseline}"], headline["p_value"])],
        f"overlap {baseline} %": headline[f"overlap_with_{baseline}"].round(1),
        "stability %": headline["stability"].round(1),
        "r(class error)": headline["pearson_r_class_error"].round(2),
    })
