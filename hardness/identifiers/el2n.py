"""EL2N (Paul et al., 2021, "Deep Learning on a Data Diet: Finding Important Examples Early in Training", NeurIPS):
the error L2 norm ||p(x) - e_y||_2 of the softmax output p against the one-hot label, early in training (higher =
harder).

Choices: epoch `identifier.el2n_epoch` (default 20, the paper's; capped at train.epochs), the model trained on all
samples, training stopped right after (nothing later is read). The paper averages over 10 initialisations; here each
of the K seeds keeps its own score, so K seeds give K paired hard sets like every identifier. In full-batch training
an epoch is one step, so epoch 20 is earlier in training than the paper's epoch 20 of mini-batch SGD.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import Latest, Observe, early_epoch, identified, train_observed


def score_el2n(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """||probs - one_hot(labels)||_2 [K, P] from probs [K, P, C] and labels [P]."""
    return (probs - F.one_hot(labels, probs.shape[-1]).to(probs.dtype)).norm(dim=-1)


@register
class EL2N:
    """Hardness = distance of the early softmax output from the one-hot label."""

    name = "el2n"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        epoch = early_epoch(config, config.identifier.el2n_epoch)
        errors = Latest((len(model_seeds), dataset.n_samples), device=dataset.x.device)
        hook = Observe("probs", (epoch,), errors, lambda probs, positions: score_el2n(probs, dataset.y[positions]))
        trained = train_observed(dataset, config, model_seeds, [hook], until=epoch, progress=progress)
        return identified(self.name, errors.value, trained.diverged, epoch=epoch)
