"""The reference implementation's approach to the radii run, written from its description, as a speed baseline.

One model at a time: a plain `nn.Module` (in -> 20 -> 20 -> classes, tanh), `torch.optim.SGD`, a `DataLoader` over a
`TensorDataset` with the full batch for each training step, and a second full-batch `DataLoader` pass every epoch
for the radii of the first hidden layer (per class, closed form) and, at a class's inversion, its misclassified
samples. It is timed for a few seeds and epochs and reported per model-epoch, so it scales to any run.

    python -m benchmarks reference [--seeds 2 --epochs 10 --subset-size 20000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hardness.config import InversionConfig, ModelConfig, TrainConfig


@dataclass(frozen=True)
class BaselineTiming:
    """Seconds per model-epoch of the reference-style loop, and what it was measured on."""

    seconds_per_model_epoch: float
    seeds: int
    epochs: int
    n_samples: int


def build_reference_model(n_features: int, n_classes: int, model: ModelConfig) -> nn.Sequential:
    """The network as a reference script writes it: Linear/activation layers in an nn.Sequential."""
    activation = {"tanh": nn.Tanh, "relu": nn.ReLU}[model.activation]
    layers: list[nn.Module] = []
    fan_in = n_features
    for _ in range(model.depth):
        layers += [nn.Linear(fan_in, model.width), activation()]
        fan_in = model.width
    layers.append(nn.Linear(fan_in, n_classes))
    return nn.Sequential(*layers)


def class_radii(latent: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """R_c of every class, one class at a time (SPEC section 3's closed form on unit-normalised latents)."""
    unit = F.normalize(latent, dim=1)
    radii = torch.empty(n_classes)
    for c in range(n_classes):
        members = unit[labels == c]
        radii[c] = (members - members.mean(0)).pow(2).sum(1).mean().sqrt()
    return radii


def train_one_seed(x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int, *, model: ModelConfig,
                   train: TrainConfig, rule: InversionConfig) -> torch.Tensor:
    """Train one model with the reference loop; returns the stragglers mask [N] (classes read at their inversion)."""
    torch.manual_seed(seed)
    network = build_reference_model(x.shape[1], n_classes, model)
    optimizer = torch.optim.SGD(network.parameters(), lr=train.lr)
    dataset = TensorDataset(x, y)
    train_loader = DataLoader(dataset, batch_size=len(dataset), shuffle=True)
    radii_loader = DataLoader(dataset, batch_size=len(dataset), shuffle=False)
    history: list[torch.Tensor] = []
    stragglers = torch.zeros(len(y), dtype=torch.bool)
    inverted = torch.zeros(n_classes, dtype=torch.bool)
    for epoch in range(train.epochs):
        network.train()
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(network(inputs), labels).backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            for inputs, labels in radii_loader:
                history.append(class_radii(network[:2](inputs), labels, n_classes))
                due = epoch >= rule.warmup and (epoch - rule.warmup) % rule.check_every == 0
                if due and len(history) > rule.check_every:
                    now = (history[-1] > history[-1 - rule.check_every]) & ~inverted
                    if now.any():
                        wrong = network(inputs).argmax(1) != labels
                        stragglers |= wrong & now[labels]
                        inverted |= now
    return stragglers


def time_reference(x: torch.Tensor, y: torch.Tensor, *, seeds: int, epochs: int) -> BaselineTiming:
    """Seconds per model-epoch of the reference-style loop over `seeds` seeds of `epochs` epochs each."""
    n_classes = int(y.max()) + 1
    train = TrainConfig(epochs=epochs)
    start = time.perf_counter()
    for seed in range(seeds):
        train_one_seed(x, y, n_classes, seed, model=ModelConfig(), train=train, rule=InversionConfig())
    return BaselineTiming((time.perf_counter() - start) / (seeds * epochs), seeds, epochs, len(y))


def main(argv: list[str] | None = None) -> BaselineTiming:
    from benchmarks.common import console, load_mnist

    parser = argparse.ArgumentParser(prog="python -m benchmarks reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--subset-size", type=int, default=20000)
    parser.add_argument("--data-root", default="../shared/data")
    args = parser.parse_args(argv)
    x, y = load_mnist(args.data_root, args.subset_size)
    timing = time_reference(x, y, seeds=args.seeds, epochs=args.epochs)
    console.print(f"reference-style loop: {timing.seconds_per_model_epoch * 1e3:.1f} ms per model-epoch "
                  f"({args.seeds} seeds x {args.epochs} epochs, N={len(y)})")
    return timing
