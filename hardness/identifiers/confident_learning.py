"""Confident learning (Northcutt, Jiang & Chuang, 2021, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR) through the cleanlab library, which implements it (nothing of it is re-implemented here).

Out-of-sample predicted probabilities, as cleanlab asks for: per seed k a stratified F-fold split of the samples
(F = `identifier.cleanlab_folds`, default 5, shuffled with the model's seed, as cleanlab's own cross-validation
does); model (k, f) starts from model k's initialisation and trains on the other folds for all E epochs; sample i's
probabilities come from the model that did not train on it. All K x F models train as one ensemble with per-model
training masks [K F, N]. Then per seed `cleanlab.rank.get_label_quality_scores` (self-confidence, the library's
default) gives the score 1 - quality (higher = harder), and `cleanlab.filter.find_label_issues` (prune_by_noise_rate,
the default) the identifier's own hard set: kind "both" (`threshold.method: own` takes that set; the other methods
threshold the scores). Seed k's hard set counts as diverged when any of its F models diverged.
"""

from __future__ import annotations

import numpy as np
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import identified
from hardness.identifiers.outputs import compute_final_logits


def compute_folds(labels: torch.Tensor, model_seeds: list[int], folds: int) -> torch.Tensor:
    """Fold [K, N] (0..folds-1) of every sample for each seed: a stratified split shuffled with the seed."""
    from sklearn.model_selection import StratifiedKFold

    y = labels.cpu().numpy()
    assigned = np.empty((len(model_seeds), len(y)), dtype=np.int64)
    for k, seed in enumerate(model_seeds):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for f, (_, held_out) in enumerate(splitter.split(np.zeros(len(y)), y)):
            assigned[k, held_out] = f
    return torch.from_numpy(assigned).to(labels.device)


def compute_fold_masks(fold: torch.Tensor, folds: int) -> torch.Tensor:
    """Training masks [K F, N] from fold [K, N]: model k F + f trains on seed k's samples outside fold f."""
    return (fold.unsqueeze(1) != torch.arange(folds, device=fold.device).view(1, -1, 1)).flatten(0, 1)


def gather_out_of_fold(probs: torch.Tensor, fold: torch.Tensor) -> torch.Tensor:
    """probs [K F, N, C] of the K x F models -> [K, N, C]: each sample's from the model of its seed that held it out."""
    k, n = fold.shape
    per_seed = probs.view(k, -1, n, probs.shape[-1])
    index = fold.view(k, 1, n, 1).expand(k, 1, n, probs.shape[-1])
    return per_seed.gather(1, index).squeeze(1)


def find_label_issues(labels: torch.Tensor, pred_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [K, N] = 1 - cleanlab's label quality, issues [K, N] bool from cleanlab's filter) per seed, from the
    out-of-sample pred_probs [K, N, C] and labels [N]."""
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
    from cleanlab.rank import get_label_quality_scores

    y = labels.cpu().numpy()
    scores, issues = [], []
    for probs in pred_probs.double().cpu().numpy():
        probs = probs / probs.sum(1, keepdims=True)  # cleanlab checks that each row sums to 1
        scores.append(1.0 - get_label_quality_scores(y, probs))
        issues.append(cleanlab_find_label_issues(y, probs, n_jobs=1))
    return (torch.tensor(np.stack(scores), dtype=torch.float32, device=labels.device),
            torch.tensor(np.stack(issues), dtype=torch.bool, device=labels.device))


@register
class ConfidentLearning:
    """Hardness = cleanlab's label-quality estimate from cross-validated probabilities, with its label-issue set."""

    name = "cleanlab"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        pred_probs, diverged = compute_out_of_fold(dataset, config, model_seeds, progress=progress)
        scores, issues = find_label_issues(dataset.y, pred_probs)
        return identified(self.name, scores, diverged, hard=issues, folds=config.identifier.cleanlab_folds)


def compute_out_of_fold(dataset: Dataset, config: Config, model_seeds: list[int], *,
                        progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred_probs [K, N, C]: each sample's softmax from the model of its seed that held it out, diverged [K]: some
    model of the seed diverged) of the K x F cross-validation models (F = identifier.cleanlab_folds)."""
    folds = config.identifier.cleanlab_folds
    fold = compute_folds(dataset.y, model_seeds, folds)
    seeds = [seed for seed in model_seeds for _ in range(folds)]
    logits, diverged = compute_final_logits(dataset, config, seeds, train_mask=compute_fold_masks(fold, folds),
                                            progress=progress)
    pred_probs = gather_out_of_fold(torch.softmax(logits, dim=-1), fold)
    return pred_probs, diverged.view(len(model_seeds), folds).any(1)
