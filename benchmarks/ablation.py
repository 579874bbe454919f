"""The ablations the paper left out: other architectures, and other layers whose radii decide the inversion.

For each variant (a network and the layer its radii read) on the same data and seeds:
- do the classes invert, and when (mean inversion epoch over the (model, class) pairs that invert);
- how many stragglers a model marks;
- the straggler set (marked by a majority of the seeds) and its Jaccard overlap with every other variant's;
- the easy/hard test-accuracy gap: fresh models of the variant's network train on 90% of the easy and of the hard
  samples (SPEC section 6, `remaining` 1) and are tested on the other 10% of each.

    python -m benchmarks ablation [--quick] [--data-root ../shared/data] [--only cnn]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from benchmarks.common import console
from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine.factory import build_engine
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers.stragglers import find_stragglers

MLP, CNN, RESNET = "configs/ablation-mnist-20k.yaml", "configs/ablation-mnist-20k-cnn.yaml", \
    "configs/ablation-mnist-20k-resnet.yaml"
VARIANTS = (
    ("mlp", "hidden layer 1", MLP, ["model.latent_layer=0"]),
    ("mlp", "hidden layer 2", MLP, ["model.latent_layer=1"]),
    ("cnn", "conv block 1", CNN, ["model.latent=2"]),
    ("cnn", "conv block 2", CNN, ["model.latent=5"]),
    ("cnn", "penultimate", CNN, []),
    ("resnet-8", "stage 2", RESNET, ["model.latent=4"]),
    ("resnet-8", "penultimate", RESNET, []),
)
QUICK = ["data.name=digits", "data.subset_size=null", "seeds=2", "inversion.warmup=1", "inversion.check_every=1"]
QUICK_EPOCHS = {MLP: 60, CNN: 6, RESNET: 4}
GAP_STREAM = 71
"""Seed stream of the gap's fresh models and split, apart from the identification's."""


@dataclass(frozen=True)
class VariantResult:
    arch: str
    layer: str
    inverted: float
    inversion_epoch: float
    stragglers: float
    hard: np.ndarray
    easy_accuracy: float
    hard_accuracy: float
    seconds: float

    @property
    def gap(self) -> float:
        return self.easy_accuracy - self.hard_accuracy


def split_train_test(hard: np.ndarray, seed: int, train_ratio: float = 0.9) -> np.ndarray:
    """Bool [N]: the training part, train_ratio of the hard and of the easy samples, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    train = np.zeros(len(hard), dtype=bool)
    for group in (hard, ~hard):
        members = rng.permutation(np.flatnonzero(group))
        train[members[:round(train_ratio * len(members))]] = True
    return train


def measure_gap(dataset, config, hard: np.ndarray) -> tuple[float, float]:
    """(easy, hard) test accuracy of config.seeds fresh models of the variant's network, mean over the models."""
    train = split_train_test(hard, config.seed + GAP_STREAM)
    seeds = derive_model_seeds(config.seed, config.seeds, stream=GAP_STREAM)
    engine, ensemble = build_engine(config, dataset, seeds)
    mask = torch.from_numpy(train).expand(len(seeds), -1).contiguous()
    fitted = engine.fit(ensemble, dataset.x, dataset.y, train_mask=mask, seed=config.seed)
    correct = (engine.predict(fitted.ensemble, dataset.x).argmax(2) == dataset.y).numpy()
    test_easy, test_hard = ~train & ~hard, ~train & hard
    return float(correct[:, test_easy].mean()), float(correct[:, test_hard].mean()) if test_hard.any() else np.nan


def run_variant(arch: str, layer: str, path: str, overrides: list[str], *, data_root: str,
                quick: bool) -> VariantResult:
    """Identify the variant's stragglers and measure its gap."""
    started = time.perf_counter()
    extra = [*QUICK, f"train.epochs={QUICK_EPOCHS[path]}"] if quick else [f"data.root={data_root}"]
    config = load_config(path, [*overrides, *extra])
    dataset = load_dataset(config.data, config.seed)
    found = find_stragglers(dataset, config, derive_model_seeds(config.seed, config.seeds),
                            seed=config.seed).converged()
    inverted = found.inversion_epoch >= 0
    hard = (found.hard.float().mean(0) > 0.5).numpy()
    easy_accuracy, hard_accuracy = measure_gap(dataset, config, hard)
    return VariantResult(arch, layer, float(inverted.float().mean()),
                         float(found.inversion_epoch[inverted].float().mean()) if inverted.any() else np.nan,
                         float(found.hard.sum(1).float().mean()), hard, easy_accuracy, hard_accuracy,
                         time.perf_counter() - started)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two bool masks; NaN when both are empty."""
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else np.nan


def overlap_matrix(results: list[VariantResult]) -> np.ndarray:
    return np.array([[jaccard(a.hard, b.hard) for b in results] for a in results])


def report(results: list[VariantResult]) -> Table:
    table = Table(title="Ablation: architecture and radii layer")
    for column in ("network", "radii layer", "classes inverted", "mean inversion epoch", "stragglers / model",
                   "majority set", "easy acc", "hard acc", "gap", "seconds"):
        table.add_column(column, justify="left" if column in ("network", "radii layer") else "right")
    for r in results:
        table.add_row(r.arch, r.layer, f"{r.inverted:.0%}", f"{r.inversion_epoch:.1f}", f"{r.stragglers:.0f}",
                      f"{int(r.hard.sum())}", f"{r.easy_accuracy:.3f}", f"{r.hard_accuracy:.3f}", f"{r.gap:+.3f}",
                      f"{r.seconds:.0f}")
    return table


def draw_overlap(results: list[VariantResult], out: Path) -> None:
    """A heatmap of the Jaccard overlap of the variants' straggler sets."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    matrix = overlap_matrix(results)
    labels = [f"{r.arch}: {r.layer}" for r in results]
    figure, axes = pyplot.subplots(figsize=(7, 6))
    image = axes.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            shade = "white" if matrix[i, j] < .6 else "black"
            axes.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", color=shade)
    figure.colorbar(image, label="Jaccard overlap of the straggler sets")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    pyplot.close(figure)


def measure(*, data_root: str, quick: bool, only: str | None = None, figure: Path | None = None) -> list[VariantResult]:
    """Every variant (or those of the network `only`), in order; draws the overlap figure when asked."""
    results = []
    for variant in VARIANTS:
        if only is None or variant[0] == only:
            results.append(run_variant(*variant, data_root=data_root, quick=quick))
            console.print(report(results[-1:]))
    if figure is not None:
        draw_overlap(results, figure)
    return results


def markdown(results: list[VariantResult]) -> str:
    """The table and the overlap matrix as Markdown, for the docs."""
    rows = ["| network | radii layer | classes inverted | mean inversion epoch | stragglers / model | majority set "
            "| easy acc | hard acc | gap |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows += [f"| {r.arch} | {r.layer} | {r.inverted:.0%} | {r.inversion_epoch:.1f} | {r.stragglers:.0f} | "
             f"{int(r.hard.sum())} | {r.easy_accuracy:.3f} | {r.hard_accuracy:.3f} | {r.gap:+.3f} |" for r in results]
    labels = [f"{r.arch}: {r.layer}" for r in results]
    matrix = overlap_matrix(results)
    rows += ["", "| Jaccard | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    rows += [f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for label, row in zip(labels, matrix)]
    return "\n".join(rows)
