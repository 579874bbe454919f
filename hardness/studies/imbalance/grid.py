"""The in-class imbalance grid (SPEC section 6) as computation: cells, splits, ensemble training, metrics.

A cell is (hard set, train ratio, remaining fraction); each cell trains `inits` fresh models. All
models of the cells of one (hard set, train ratio) train as ONE ensemble with per-model training masks,
restricted to the union of their nested training sets; each model pays only for its own samples. The
test sets of a cell depend only on (hard set, train ratio), so cells that differ in the remaining
fraction are evaluated on the same test samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place
from hardness.engine.divergence import DivergenceGuard
from hardness.engine.factory import build_engine
from hardness.engine.progress import EpochProgress, Progress
from hardness.engine.seeds import INIT_STREAM, derive_model_seeds
from hardness.studies.common.metrics import compute_classification_metrics
from hardness.studies.imbalance.splits import ImbalanceSplit, build_train_masks, compute_imbalance_split
from hardness.tracking import schema


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    hard_set: int
    train_ratio: float
    remaining: float

    @property
    def key(self) -> str:
        return f"h{self.hard_set}-r{self.train_ratio:g}-f{self.remaining:g}"


@dataclass(frozen=True)
class CellResult:
    """A cell's split, its metrics per initialisation {'acc/hard': array[inits], ...} (NaN for an initialisation
    whose training diverged) and which initialisations diverged [inits]."""

    cell: Cell
    split: ImbalanceSplit
    metrics: dict[str, np.ndarray]
    diverged: np.ndarray


def build_cells(config: Config, n_hard_sets: int) -> list[Cell]:
    """Every (hard set, train ratio, remaining fraction) of the configured grid."""
    return [Cell(h, ratio, fraction) for h in range(n_hard_sets) for ratio in config.imbalance.train_ratios
            for fraction in config.imbalance.fractions]


def derive_split_seed(seed: int, cell: Cell) -> int:
    """Split seed shared by the cells of one (hard set, train ratio), so their test sets coincide."""
    state = np.random.SeedSequence([seed, cell.hard_set, round(cell.train_ratio * 10_000), 2]).generate_state(1)
    return int(state[0] >> 1)


def compute_split(hard: torch.Tensor, config: Config, cell: Cell) -> ImbalanceSplit:
    """The cell's train / hard-test / easy-test positions."""
    return compute_imbalance_split(hard, train_ratio=cell.train_ratio, remaining=cell.remaining,
                                   reduce=config.imbalance.reduce, seed=derive_split_seed(config.seed, cell))


def score_cell(predictions: torch.Tensor, labels: torch.Tensor, split: ImbalanceSplit) -> dict[str, np.ndarray]:
    """Metrics per model for predictions [inits, N] on the split's all / hard / easy test sets, plus gaps."""
    metrics: dict[str, np.ndarray] = {}
    for part, positions in zip(schema.TEST_PARTS, (split.test, split.test_hard, split.test_easy)):
        for measure, values in compute_classification_metrics(predictions[:, positions], labels[positions]).items():
            metrics[schema.part_metric(measure, part)] = np.asarray(values, dtype=float)
    for measure in schema.MEASURES:
        metrics[schema.gap_metric(measure)] = (metrics[schema.part_metric(measure, "easy")]
                                               - metrics[schema.part_metric(measure, "hard")])
    return metrics


def estimate_work(sizes: list[int], *, inits: int, chunk_size: int) -> int:
    """Model-samples of one epoch of an ensemble of cells with nested training sets of `sizes` (`inits` models each).

    The engine puts the samples most models train on first, so each set is a prefix of the union; per chunk of the
    union it trains the models whose set reaches into the chunk: the sum over chunks of their number x its length.
    """
    union = max(sizes, default=0)
    return sum(inits * sum(size > start for size in sizes) * (min(start + chunk_size, union) - start)
               for start in range(0, union, chunk_size))


def plan_batches(cells: list[Cell], sizes: list[int], *, max_models: int, inits: int,
                 chunk_size: int) -> list[list[int]]:
    """Group cell indices into ensembles, each of cells of one (hard set, train ratio), the most work first.

    Such cells have nested training sets, and a model costs only the chunks its own samples reach (estimate_work),
    so the cells of one group cost the same together as apart: a batch takes the whole group, or past `max_models`
    models the fewest equal runs of it by size. Largest work first lets parallel executors start the longest units
    first. Within a batch cells go by size, so the models of every chunk are one contiguous range.
    """
    groups: dict[tuple[int, float], list[int]] = {}
    for index, cell in enumerate(cells):
        groups.setdefault((cell.hard_set, cell.train_ratio), []).append(index)
    per_batch = max(1, max_models // inits)
    batches: list[list[int]] = []
    for members in groups.values():
        members = sorted(members, key=lambda i: sizes[i])
        pieces = -(-len(members) // per_batch)
        bounds = [round(piece * len(members) / pieces) for piece in range(pieces + 1)]
        batches += [members[first:stop] for first, stop in pairwise(bounds)]
    return sorted(batches, key=lambda batch: -estimate_work([sizes[i] for i in batch], inits=inits,
                                                             chunk_size=chunk_size))


@dataclass(frozen=True)
class GridUnit:
    """One ensemble of the grid, the work unit an executor runs: cells of one (hard set, train ratio), their splits."""

    cells: tuple[Cell, ...]
    splits: tuple[ImbalanceSplit, ...]


def plan_units(config: Config, hard_sets: torch.Tensor, cells: list[Cell]) -> list[GridUnit]:
    """The cells' splits grouped into ensembles as plan_batches groups them."""
    splits = [compute_split(hard_sets[cell.hard_set], config, cell) for cell in cells]
    plan = plan_batches(cells, [len(split.train) for split in splits], max_models=config.imbalance.models_per_batch,
                        inits=config.imbalance.inits, chunk_size=config.train.chunk_size)
    return [GridUnit(tuple(cells[i] for i in members), tuple(splits[i] for i in members)) for members in plan]


def evaluate_unit(unit: GridUnit, *, dataset: Dataset, config: Config,
                  progress: Progress | None = None) -> list[CellResult]:
    """Train the unit's cells as one ensemble (`inits` models each, per-model training masks) on config.train.device
    and score them."""
    dataset = place(dataset, config)
    device, inits = dataset.x.device, config.imbalance.inits
    masks = build_train_masks([split for split in unit.splits for _ in range(inits)], dataset.n_samples).to(device)
    used = masks.any(0)
    init_seeds = derive_model_seeds(config.seed, inits, stream=INIT_STREAM)
    engine, ensemble = build_engine(config, dataset, init_seeds * len(unit.cells), device)
    guard = DivergenceGuard(ensemble.n_models, config.train.epochs, device=device)
    hooks = [guard] if progress is None else [guard, EpochProgress(progress, config.train.epochs)]
    fitted = engine.fit(ensemble, dataset.x[used], dataset.y[used], train_mask=masks[:, used], hooks=hooks,
                        seed=config.seed)
    predictions = engine.predict(fitted.ensemble, dataset.x).argmax(dim=2).cpu()
    labels, diverged = dataset.y.cpu(), guard.diverged.cpu().numpy()
    results = []
    for i, (cell, split) in enumerate(zip(unit.cells, unit.splits)):
        rows = slice(i * inits, (i + 1) * inits)
        metrics = score_cell(predictions[rows], labels, split)
        for values in metrics.values():
            values[diverged[rows]] = np.nan
        results.append(CellResult(cell, split, metrics, diverged[rows]))
    return results


def evaluate_cells(dataset: Dataset, config: Config, hard_sets: torch.Tensor,
                   cells: list[Cell]) -> Iterator[list[CellResult]]:
    """Train and score the cells unit by unit in this process (yielding each unit's results as soon as it is done)."""
    for unit in plan_units(config, hard_sets, cells):
        yield evaluate_unit(unit, dataset=dataset, config=config)
