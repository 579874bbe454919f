"""The module backend against the straightforward loop: K copies of one nn.Module trained one seed after another.

Workloads on 20,000 CIFAR-10-shaped samples (3 x 32 x 32, random pixels and labels: speed does not depend on what is
learnt), mini-batches of 128, SGD with momentum: the small CNN (LeNet-5 style) at K = 10 and K = 100, ResNet-20 at
K = 10. Both sides train the same mini-batches of a prefix of the data (`batches` of them per model) and the time is
scaled to a whole epoch of 20,000 samples: ms per model-epoch. The per-seed loop times `loop_models` of the K models
(each costs the same). Both use torch's intra-op threads.

    python -m benchmarks module [--quick] [--device cuda]
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.table import Table

from benchmarks.common import synchronize
from hardness.config import build_config
from hardness.datasets.prepare import Dataset
from hardness.engine.architectures import build_network
from hardness.engine.factory import build_engine
from hardness.engine.optim import build_optimizer
from hardness.engine.passes import compute_batch_order

N, SHAPE, CLASSES, BATCH = 20_000, (3, 32, 32), 10, 128
WORKLOADS = (("small CNN", {"arch": "cnn", "activation": "relu"}, 10),
             ("small CNN", {"arch": "cnn", "activation": "relu"}, 100),
             ("ResNet-20", {"arch": "resnet"}, 10))


@dataclass(frozen=True)
class ModuleSpeed:
    workload: str
    models: int
    ensemble_ms: float
    loop_ms: float

    @property
    def ratio(self) -> float:
        return self.loop_ms / self.ensemble_ms


def cifar_shaped(device: torch.device) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(N, SHAPE[0] * SHAPE[1] * SHAPE[2], generator=generator).to(device)
    y = torch.randint(0, CLASSES, (N,), generator=generator).to(device)
    return Dataset("cifar-shaped", x, y, y.clone(), torch.arange(N), CLASSES, torch.zeros(N, dtype=torch.bool),
                   "random", image_shape=SHAPE)


def time_ensemble(config, dataset: Dataset, models: int, batches: int) -> float:
    """Seconds of `batches` mini-batches of all `models` on the module backend (after one warm-up batch)."""
    engine, ensemble = build_engine(config, dataset, list(range(models)))
    used = batches * BATCH
    x, y = dataset.x[:used], dataset.y[:used]
    optimizer = build_optimizer(ensemble.parameters(), config.train)
    mask = torch.ones(models, used, dtype=torch.bool, device=x.device)
    generator = torch.Generator(device=x.device).manual_seed(0)
    warm = torch.ones(models, BATCH, dtype=torch.bool, device=x.device)
    engine.backend.run_minibatch_epoch(ensemble, optimizer, x[:BATCH], y[:BATCH], warm, generator)
    synchronize(x.device)
    started = time.perf_counter()
    engine.backend.run_minibatch_epoch(ensemble, optimizer, x, y, mask, generator)
    synchronize(x.device)
    return time.perf_counter() - started


def time_loop(config, dataset: Dataset, models: int, batches: int) -> float:
    """Seconds of the same mini-batches for `models` plain modules, one after another, with torch.optim.SGD."""
    used = batches * BATCH
    x, y = dataset.x[:used].view(-1, *SHAPE), dataset.y[:used]
    order = compute_batch_order(torch.ones(models, used, dtype=torch.bool), torch.Generator().manual_seed(0))
    total = 0.0
    for k in range(models):
        torch.manual_seed(k)
        module = build_network(config.model, CLASSES, SHAPE).to(x.device).train()
        optimizer = torch.optim.SGD(module.parameters(), lr=config.train.lr, momentum=config.train.momentum)
        positions = order[k].to(x.device)
        for warm_up in (True, False):
            synchronize(x.device)
            started = time.perf_counter()
            for start in range(0, BATCH if warm_up else used, BATCH):
                batch = positions[start:start + BATCH]
                optimizer.zero_grad()
                F.cross_entropy(module(x[batch]), y[batch]).backward()
                optimizer.step()
            synchronize(x.device)
            total += 0.0 if warm_up else time.perf_counter() - started
    return total


def measure(*, quick: bool = False, device: str = "cpu") -> list[ModuleSpeed]:
    """Every workload: ms per model-epoch of the module backend and of the per-seed loop."""
    dataset = cifar_shaped(torch.device(device))
    results = []
    for name, model, models in WORKLOADS:
        if quick and models > 10:
            continue
        config = build_config({"model": model, "train": {"batch_size": BATCH, "lr": 0.01, "momentum": 0.9,
                                                         "epochs": 5, "device": device},
                               "inversion": {"warmup": 0}}, [])
        batches = (2 if quick else 4) if name == "ResNet-20" else (4 if quick else 10)
        loop_models = min(models, 3 if quick else 5)
        ensemble_s = time_ensemble(config, dataset, models, batches)
        loop_s = time_loop(config, dataset, loop_models, batches)
        per_epoch = N / (batches * BATCH) * 1000
        results.append(ModuleSpeed(f"{name}, K = {models}", models, ensemble_s * per_epoch / models,
                                   loop_s * per_epoch / loop_models))
    return results


def report(results: list[ModuleSpeed]) -> Table:
    table = Table(title="Module backend: ms per model-epoch (20k CIFAR-10-shaped samples, batch 128)")
    for column in ("workload", "module backend", "per-seed loop", "ratio"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for r in results:
        table.add_row(r.workload, f"{r.ensemble_ms:,.0f}", f"{r.loop_ms:,.0f}", f"{r.ratio:.2f}x")
    return table


def main(argv: list[str] | None = None) -> list[ModuleSpeed]:
    import argparse

    from benchmarks.common import console

    parser = argparse.ArgumentParser(prog="python -m benchmarks.module_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches, no K = 100")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args(argv)
    results = measure(quick=args.quick, device=args.device)
    console.print(report(results))
    return results


if __name__ == "__main__":
    main()
