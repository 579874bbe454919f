"""The reference ensemble of adjacent flips: out-of-fold class probabilities of every sample.

A network trained on a sample soon predicts its label with near certainty, which says little about which other
class the sample resembles; so the samples are split into two folds (seeded), `detect.reference_models` models train
on each (one ensemble, per-model training masks), and each sample gets the mean softmax of the models that did not
see it.
"""

from __future__ import annotations

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place
from hardness.engine.divergence import DivergenceGuard, report_diverged
from hardness.engine.factory import build_engine
from hardness.engine.progress import EpochProgress, Progress
from hardness.engine.seeds import REFERENCE_STREAM, derive_model_seeds


def build_fold_masks(n_samples: int, models_per_fold: int, seed: int) -> torch.Tensor:
    """Training masks [2 * models_per_fold, N]: the first models train on fold 0, the others on fold 1 (a seeded
    half of the samples each), drawn on the CPU."""
    generator = torch.Generator(device="cpu").manual_seed(seed + REFERENCE_STREAM)
    order = torch.randperm(n_samples, generator=generator, device="cpu")
    fold = torch.zeros(n_samples, dtype=torch.bool, device="cpu")
    fold[order[: n_samples // 2]] = True
    return torch.cat([fold.expand(models_per_fold, -1), (~fold).expand(models_per_fold, -1)])


def compute_reference_probabilities(dataset: Dataset, config: Config, *,
                                    progress: Progress | None = None) -> torch.Tensor:
    """Class probabilities [N, C]: per sample, the mean softmax of the reference models that did not train on it
    (models that diverged are left out; all of one fold diverging fails the run). Trains on config.train.device; the
    probabilities come back on the CPU."""
    dataset = place(dataset, config)
    per_fold, device = config.detect.reference_models, dataset.x.device
    masks = build_fold_masks(dataset.n_samples, per_fold, config.seed).to(device)
    engine, ensemble = build_engine(config, dataset,
                                    derive_model_seeds(config.seed, len(masks), stream=REFERENCE_STREAM), device)
    guard = DivergenceGuard(len(masks), config.train.epochs, device=device)
    hooks = [guard] if progress is None else [guard, EpochProgress(progress, config.train.epochs)]
    fitted = engine.fit(ensemble, dataset.x, dataset.y, train_mask=masks, hooks=hooks, seed=config.seed)
    probabilities = torch.softmax(engine.predict(fitted.ensemble, dataset.x), dim=-1)
    held_out = (~masks & ~guard.diverged.unsqueeze(1)).float()  # [K, N]: model k may speak for sample n
    for fold in range(2):
        report_diverged(guard.diverged[fold * per_fold:(fold + 1) * per_fold], f"reference models of fold {fold}")
    return (torch.einsum("kn,knc->nc", held_out, probabilities) / held_out.sum(0).unsqueeze(1)).cpu()
