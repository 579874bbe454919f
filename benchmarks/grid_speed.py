"""How fast are the imbalance grid and the benchmark's identification? Before and after skipping idle models, on MNIST.

    python benchmarks/grid_speed.py [--quick] [--data-root ../shared/data] [--epochs 10]

1. one grid unit: the cells of one (hard set, train ratio) of configs/benchmark-mnist-20k.yaml (the largest ratio),
   trained three ways in this process for a few epochs: as planned before (batches closed at twice their smallest
   training set, every model paying for its batch's union), the new unit with skipping switched off (the whole
   group, dense) and the new unit as it trains now (each model pays for the chunks its own samples reach);
2. the benchmark's confidence and energy: identified one after the other, as before, and from one shared fit;
3. the projection of the whole config: its work counted in model-sample-epochs per phase (identification, the
   three grids, the class-error models), each divided by the throughput measured here for that kind of fit.

The hard sets are random, of `--hard-fraction` of the samples (the size class of stragglers on 20k MNIST): the cost
depends on their size only. Tracking, start-up and prediction are not part of the projection.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from hardness.config import Config, load_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.engine import Engine
from hardness.engine.ensemble import build_ensemble
from hardness.engine.seeds import INIT_STREAM, derive_model_seeds
from hardness.engine.threads import set_threads
from hardness.identifiers.identify import identify, identify_together
from hardness.studies.imbalance.grid import (
    Cell,
    compute_split,
    estimate_work,
    plan_units,
)
from hardness.studies.imbalance.splits import build_train_masks

CONFIG = "configs/benchmark-mnist-20k.yaml"
SHARED = ("confidence", "energy")


@dataclass(frozen=True)
class Timed:
    """Best wall seconds of a measurement and the model-sample-epochs it trained."""

    seconds: float
    work: float

    @property
    def rate(self) -> float:
        """Model-sample-epochs per second."""
        return self.work / self.seconds


def best_of(repeats: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The shortest wall time of each run over `repeats` rounds, the runs interleaved so that a burst of load from
    other processes hits all of them alike."""
    best = dict.fromkeys(runs, math.inf)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def plan_before(sizes: list[int], per_batch: int, max_ratio: float = 2.0) -> list[list[int]]:
    """The grid's plan before skipping (for the before timing): cells of one group by size, a batch closed when the
    next set exceeds max_ratio x its smallest or it holds per_batch cells."""
    batches: list[list[int]] = [[]]
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        current = batches[-1]
        if current and (len(current) >= per_batch or sizes[index] > max_ratio * max(sizes[current[0]], 1)):
            batches.append(current := [])
        current.append(index)
    return batches


def dense_work(sizes: list[int], batches: list[list[int]], inits: int) -> int:
    """Model-samples of one epoch of `batches` of cells when every model pays for its batch's union."""
    return sum(len(batch) * inits * max(sizes[i] for i in batch) for batch in batches)


def train_cells(config: Config, dataset: Dataset, splits: list, *, skip_idle: bool) -> None:
    """Train `inits` models per split as one ensemble on the union of their training sets (as evaluate_unit does)."""
    inits = config.imbalance.inits
    masks = build_train_masks([split for split in splits for _ in range(inits)], dataset.n_samples)
    used = masks.any(0)
    seeds = derive_model_seeds(config.seed, inits, stream=INIT_STREAM) * len(splits)
    ensemble = build_ensemble(dataset.n_features, dataset.n_classes, config.model, seeds)
    engine = Engine(config.model, config.train, dataset.n_classes, skip_idle=skip_idle)
    engine.fit(ensemble, dataset.x[used], dataset.y[used], train_mask=masks[:, used], seed=config.seed)


def random_hard_sets(n_samples: int, count: int, fraction: float, seed: int) -> torch.Tensor:
    """[count, n_samples] bool: `count` random hard sets of round(fraction x n_samples) samples each."""
    generator = torch.Generator().manual_seed(seed)
    hard = torch.zeros(count, n_samples, dtype=torch.bool)
    for row in hard:
        row[torch.randperm(n_samples, generator=generator)[:round(fraction * n_samples)]] = True
    return hard


def group_sizes(config: Config, hard: torch.Tensor, ratio: float) -> list[int]:
    """Training-set sizes of the cells of one (hard set, train ratio), in config.imbalance.fractions order."""
    return [len(compute_split(hard, config, Cell(0, ratio, fraction)).train) for fraction in config.imbalance.fractions]


def time_unit(config: Config, dataset: Dataset, hard: torch.Tensor, repeats: int) -> dict[str, Timed]:
    """One group's cells trained before (old plan, dense), dense as one unit, and skipping as one unit."""
    ratio, inits = max(config.imbalance.train_ratios), config.imbalance.inits
    cells = [Cell(0, ratio, fraction) for fraction in config.imbalance.fractions]
    (unit,) = plan_units(config, hard.unsqueeze(0), cells)
    splits, sizes = list(unit.splits), [len(split.train) for split in unit.splits]
    epochs = config.train.epochs + 1  # the last epoch's pass computes the loss only; count it like the others
    before = plan_before(sizes, max(1, config.imbalance.models_per_batch // inits))
    seconds = best_of(repeats, {
        "before": lambda: [train_cells(config, dataset, [splits[i] for i in b], skip_idle=False) for b in before],
        "dense": lambda: train_cells(config, dataset, splits, skip_idle=False),
        "after": lambda: train_cells(config, dataset, splits, skip_idle=True)})
    work = {"before": dense_work(sizes, before, inits), "dense": dense_work(sizes, [list(range(len(sizes)))], inits),
            "after": estimate_work(sizes, inits=inits, chunk_size=config.train.chunk_size)}
    return {name: Timed(seconds[name], epochs * work[name]) for name in seconds}


def time_identification(config: Config, dataset: Dataset, n_models: int, repeats: int) -> dict[str, Timed]:
    """Confidence and energy identified separately (two fits) and together (one fit)."""
    work = float(n_models * dataset.n_samples * (config.train.epochs + 1))
    seconds = best_of(repeats, {"separate": lambda: [identify(dataset, config, name, n_models) for name in SHARED],
                                "shared": lambda: identify_together(dataset, config, SHARED, n_models)})
    return {"separate": Timed(seconds["separate"], work * len(SHARED)), "shared": Timed(seconds["shared"], work)}


def count_work(config: Config, hard_fraction: float, n_samples: int) -> dict[str, tuple[float, float]]:
    """Model-sample-epochs of the whole config per phase, (before, after)."""
    imbalance, epochs = config.imbalance, config.train.epochs + 1
    hard = random_hard_sets(n_samples, imbalance.hard_sets, hard_fraction, config.seed)
    per_batch = max(1, imbalance.models_per_batch // imbalance.inits)
    n_grids = len(config.benchmark.identifiers)
    grid_before = grid_after = 0.0
    for row in hard:
        for ratio in imbalance.train_ratios:
            sizes = group_sizes(config, row, ratio)
            grid_before += dense_work(sizes, plan_before(sizes, per_batch), imbalance.inits)
            grid_after += estimate_work(sizes, inits=imbalance.inits, chunk_size=config.train.chunk_size)
    one_fit = float(imbalance.hard_sets * n_samples * epochs)
    scores = len([name for name in config.benchmark.identifiers if name in SHARED])
    error = float(config.benchmark.error_models * config.benchmark.error_train_size * epochs)
    return {"stragglers": (one_fit, one_fit), "confidence+energy": (one_fit * scores, one_fit * min(scores, 1)),
            "grids": (grid_before * n_grids * epochs, grid_after * n_grids * epochs), "class error": (error, error)}


def measure(data_root: str, *, quick: bool = False, epochs: int | None = None, hard_fraction: float = 0.02,
            repeats: int | None = None) -> dict:
    """Every number this benchmark prints: timings, ratios, throughputs, the projection and the machine's load."""
    epochs = epochs or (3 if quick else 10)
    repeats = repeats or (2 if quick else 3)
    full = load_config(CONFIG, [f"data.root={data_root}"])
    overrides = [f"data.root={data_root}", f"train.epochs={epochs}", "inversion.warmup=1", "inversion.check_every=1"]
    if quick:
        overrides += ["imbalance.inits=3", "imbalance.remaining=[0,0.1,0.25,0.5,1]"]
    config = load_config(CONFIG, overrides)
    dataset = load_dataset(config.data, config.seed)
    hard = random_hard_sets(dataset.n_samples, 1, hard_fraction, config.seed)[0]
    unit = time_unit(config, dataset, hard, repeats)
    identification = time_identification(config, dataset, full.imbalance.hard_sets, repeats)
    rates = {"stragglers": identification["shared"].rate, "confidence+energy": identification["shared"].rate,
             "grids": unit["after"].rate, "class error": unit["dense"].rate}
    before_rates = rates | {"grids": unit["before"].rate}
    work = count_work(full, hard_fraction, dataset.n_samples)
    projection = {phase: (before / before_rates[phase], after / rates[phase])
                  for phase, (before, after) in work.items()}
    return {"epochs": epochs, "threads": torch.get_num_threads(), "load": os.getloadavg(), "unit": unit,
            "identification": identification,
            "work": work, "projection": projection,
            "total": tuple(sum(times[i] for times in projection.values()) for i in (0, 1))}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def report(numbers: dict) -> str:
    """The numbers as the plain-text table this benchmark prints."""
    unit, ident = numbers["unit"], numbers["identification"]
    lines = [(f"load average {', '.join(f'{v:.2f}' for v in numbers['load'])} on {os.cpu_count()} cores; "
              f"{numbers['threads']} torch threads; {numbers['epochs']} epochs per timed fit"),
             "grid unit (one hard set x train ratio):      seconds   model-sample-epochs/s"]
    lines += [f"  {name:<42} {timed.seconds:8.2f}   {timed.rate / 1e6:6.2f} M" for name, timed in unit.items()]
    lines.append(f"  before / after: {unit['before'].seconds / unit['after'].seconds:.2f}x, "
                 f"dense unit / after: {unit['dense'].seconds / unit['after'].seconds:.2f}x")
    lines.append("identification (confidence + energy):")
    lines += [f"  {name:<42} {timed.seconds:8.2f}" for name, timed in ident.items()]
    lines.append(f"  separate / shared: {ident['separate'].seconds / ident['shared'].seconds:.2f}x")
    lines.append(f"projection of {CONFIG} (training only):  G model-sample-epochs before/after   time before/after")
    for phase, (before, after) in numbers["work"].items():
        seconds = numbers["projection"][phase]
        lines.append(f"  {phase:<20} {before / 1e9:8.2f} / {after / 1e9:6.2f}   "
                     f"{_minutes(seconds[0]):>10} / {_minutes(seconds[1]):>9}")
    before, after = numbers["total"]
    lines.append(f"  total {_minutes(before)} before, {_minutes(after)} after ({before / after:.2f}x)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs, 3 inits, 5 remaining fractions")
    parser.add_argument("--data-root", default="../shared/data", help="folder holding MNIST/raw")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per timed fit (default 10, quick 3)")
    parser.add_argument("--hard-fraction", type=float, default=0.02, help="size of the random hard sets")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as `hardness` sets them)")
    parser.add_argument("--repeats", type=int, default=None, help="best of this many rounds (default 3, quick 2)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    numbers = measure(args.data_root, quick=args.quick, epochs=args.epochs, hard_fraction=args.hard_fraction,
                      repeats=args.repeats)
    print(report(numbers))
    return 0 if math.isfinite(numbers["total"][1]) else 1


if __name__ == "__main__":
    sys.exit(main())
