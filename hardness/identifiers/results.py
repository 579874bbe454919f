"""What the Python API gives back: per-sample answers in the caller's order, with labels and ids as the caller gave.

Built (pure) from an identification, its hard sets and the prepared dataset, whose `index` is each sample's position
in the caller's data: rows go back to those positions. A sample that data.subset_size left out has no answer (NaN
score, not flagged, `used` False). Only the models that did not diverge are kept, so every seed row is an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from hardness.datasets.memory import InMemory
from hardness.datasets.prepare import Dataset
from hardness.identifiers.base import Identification
from hardness.identifiers.identify import HardSets

if TYPE_CHECKING:
    import pandas as pd

    from hardness.identifiers.stragglers import StragglerRun


@dataclass(frozen=True)
class Samples:
    """The caller's N samples: labels and ids as given (ids None when not given), which ones were used [N] bool."""

    labels: np.ndarray
    ids: np.ndarray | None
    used: np.ndarray

    @classmethod
    def of(cls, memory: InMemory, dataset: Dataset) -> Samples:
        used = np.zeros(memory.raw.n_samples, dtype=bool)
        used[dataset.index.numpy()] = True
        return cls(memory.labels_as_given(memory.raw.labels.numpy()), memory.ids, used)

    def to_pandas(self) -> pd.DataFrame:
        """One row per sample: its id (or position) and label, in the caller's order."""
        import pandas as pd

        key = np.arange(len(self.labels)) if self.ids is None else self.ids
        return pd.DataFrame({"id" if self.ids is not None else "position": key, "label": self.labels})


def to_caller_order(values: torch.Tensor, dataset: Dataset, n: int, fill: float | bool) -> np.ndarray:
    """values [K, M] over the prepared samples as [K, n] over the caller's samples, `fill` where none was used."""
    out = np.full((values.shape[0], n), fill, dtype=bool if isinstance(fill, bool) else np.float64)
    out[:, dataset.index.numpy()] = values.cpu().numpy()
    return out


@dataclass(frozen=True)
class ScoreResult:
    """Scores of one identifier (higher = harder, for every identifier): per kept seed [K, N] and their mean [N].

    A set-only identifier (stragglers) scores 1 where a seed flags the sample and 0 elsewhere, so its mean is the
    share of seeds that flag it."""

    identifier: str
    per_seed: np.ndarray
    seeds: tuple[int, ...]
    samples: Samples
    run_id: str | None = None

    @property
    def scores(self) -> np.ndarray:
        """Mean score over the kept seeds [N] (NaN for a sample not used)."""
        return self.per_seed.mean(axis=0)

    def to_pandas(self) -> pd.DataFrame:
        """One row per sample in the caller's order: id or position, label, score (the mean), score_seed_<k>."""
        frame = self.samples.to_pandas()
        frame["score"] = self.scores
        for row, seed in enumerate(self.seeds):
            frame[f"score_seed_{seed}"] = self.per_seed[row]
        return frame


@dataclass(frozen=True)
class HardResult:
    """Hard samples of one identifier: per kept seed [K, N] bool, the share of seeds flagging each sample [N], and
    `mask` [N], the samples at least `agreement` of the seeds flag; `scores` when the identifier gives scores."""

    identifier: str
    per_seed: np.ndarray
    seeds: tuple[int, ...]
    agreement: float
    samples: Samples
    scores: ScoreResult | None = None
    run_id: str | None = None

    @property
    def share(self) -> np.ndarray:
        """Share of the kept seeds that flag each sample [N]."""
        return self.per_seed.mean(axis=0)

    @property
    def mask(self) -> np.ndarray:
        """Samples flagged by at least `agreement` of the seeds [N] bool, in the caller's order."""
        return self.samples.used & (self.share >= self.agreement)

    @property
    def counts(self) -> pd.DataFrame:
        """Hard samples per class (label as given): per seed, and in `mask`."""
        import pandas as pd

        labels = self.samples.labels
        classes = list(dict.fromkeys(labels[self.samples.used].tolist()))
        rows = {f"seed_{seed}": [int(self.per_seed[row][labels == c].sum()) for c in classes]
                for row, seed in enumerate(self.seeds)}
        return pd.DataFrame({"label": classes, **rows, "mask": [int(self.mask[labels == c].sum()) for c in classes]})

    def to_pandas(self) -> pd.DataFrame:
        """One row per sample in the caller's order: id or position, label, hard (the mask), share, score."""
        frame = self.samples.to_pandas()
        frame["hard"], frame["share"] = self.mask, self.share
        if self.scores is not None:
            frame["score"] = self.scores.scores
        return frame


@dataclass(frozen=True)
class StragglerResult(HardResult):
    """Stragglers: the hard result plus each class's inversion epoch per seed (-1: never inverted) and the radius of
    each class over epochs, both as tidy DataFrames (seed, label, ...)."""

    inversion_epochs: pd.DataFrame | None = None
    radii: pd.DataFrame | None = None


def build_score_result(identification: Identification, diverged: torch.Tensor, dataset: Dataset, memory: InMemory,
                       run_id: str | None = None) -> ScoreResult:
    """The identification's scores (a set identifier's masks as 0/1) of the seeds that did not diverge [K] bool, in
    the caller's order."""
    kept = ~diverged
    ranking = identification.ranking.double()[kept]
    return ScoreResult(identification.name, to_caller_order(ranking, dataset, memory.raw.n_samples, np.nan),
                       _seeds(kept), Samples.of(memory, dataset), run_id)


def build_hard_result(identification: Identification, sets: HardSets, dataset: Dataset, memory: InMemory, *,
                      agreement: float, run_id: str | None = None) -> HardResult:
    """The hard sets of the kept seeds in the caller's order, with the scores when the identifier gives them."""
    scores = None if identification.scores is None else build_score_result(identification, sets.diverged, dataset,
                                                                            memory, run_id)
    return HardResult(identification.name, to_caller_order(sets.kept, dataset, memory.raw.n_samples, False),
                      _seeds(~sets.diverged), agreement, Samples.of(memory, dataset), scores, run_id)


def build_straggler_result(run: StragglerRun, dataset: Dataset, memory: InMemory, *, agreement: float,
                           run_id: str | None = None) -> StragglerResult:
    """Stragglers of the kept seeds in the caller's order, with inversion epochs and radius curves per class."""
    import pandas as pd

    kept = ~run.diverged
    seeds = _seeds(kept)
    classes = memory.labels_as_given(np.arange(dataset.n_classes))
    epochs = pd.DataFrame([{"seed": seed, "label": classes[c], "inversion_epoch": int(run.inversion_epoch[k, c]),
                            "attempt": int(run.attempt[k, c])}
                           for seed, k in zip(seeds, kept.nonzero().flatten().tolist())
                           for c in range(dataset.n_classes)])
    radii = run.radii[:, kept]  # [E+1, K', C]
    e, k, c = radii.shape
    curves = pd.DataFrame({"seed": np.tile(np.repeat(seeds, c), e),
                           "label": np.tile(classes, e * k), "epoch": np.repeat(np.arange(e), k * c),
                           "radius": radii.reshape(-1).numpy()}).dropna(subset=["radius"])
    return StragglerResult("stragglers", to_caller_order(run.hard[kept], dataset, memory.raw.n_samples, False), seeds,
                           agreement, Samples.of(memory, dataset), None, run_id, epochs,
                           curves.reset_index(drop=True))


def _seeds(kept: torch.Tensor) -> tuple[int, ...]:
    """The model slots kept (those that did not diverge)."""
    return tuple(kept.nonzero().flatten().tolist())
