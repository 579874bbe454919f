"""GraNd (Paul et al., 2021, "Deep Learning on a Data Diet", NeurIPS): the norm ||grad_w l(x, y)||_2 of the sample's
loss gradient with respect to all weights and biases of its model, early in training (higher = harder).

Choices: the engine's exact per-sample `grad_norm` (no approximation); epoch `identifier.grand_epoch`, default 20,
like EL2N (capped at train.epochs; training stops right after). The paper defines GraNd at any epoch t and reports
it at initialisation, averaged over 10 initialisations; a single seed's gradient norm at a random initialisation
describes that initialisation more than the sample, and at the same epoch as EL2N the two are comparable (EL2N is
GraNd's approximation through the output error), hence 20. Each of the K seeds keeps its own score.
"""

from __future__ import annotations

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress
from hardness.identifiers.base import Identification, register
from hardness.identifiers.dynamics import early_epoch, identified, track_moments


@register
class GraNd:
    """Hardness = the early per-sample gradient norm."""

    name = "grand"

    def identify(self, dataset: Dataset, config: Config, model_seeds: list[int], *,
                 progress: Progress | None = None) -> Identification:
        epoch = early_epoch(config, config.identifier.grand_epoch)
        moments, diverged = track_moments(dataset, config, model_seeds, "grad_norm", (epoch,), until=epoch,
                                          progress=progress)
        return identified(self.name, moments.mean, diverged, epoch=epoch)
