"""The Python API and the Recorder: what they add, and what a recorded training loop finds.

1. API overhead: `hardness.find_hard` (untracked and tracked) against `hardness identify` on the same npz, in this
   process (no interpreter start-up on either side), best of a few interleaved rounds.
2. Recorder.update against a training step of a small CNN at batch 128 (forward, backward, Adam), medians.
3. Detection AUROC of 10% uniformly flipped digits labels: the CNN loop recorded (examples/cnn_recorder.py) beside the
   MLP ensemble hardness trains itself.

    python -m benchmarks api [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from torch import nn

from examples.cnn_recorder import flip_labels, train_with_recorder

NAMES = ("aum", "loss", "forgetting", "datamaps", "margin")


@dataclass(frozen=True)
class ApiNumbers:
    cli_s: float
    api_s: float
    api_tracked_s: float
    step_ms: float
    update_ms: float
    cnn_auroc: dict[str, float]
    mlp_auroc: dict[str, float]


def time_api(x: np.ndarray, y: np.ndarray, *, seeds: int, epochs: int, rounds: int) -> tuple[float, float, float]:
    """Best seconds of the CLI, the API untracked and the API tracked finding AUM's hard samples (quantile 0.9) on the
    same data; each side logs to a store of its own, set up by an untimed first round."""
    from typer.testing import CliRunner

    import hardness
    from hardness.cli import app

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "digits.npz"
        np.savez(data, x=x, y=y)
        runner, times = CliRunner(), {"cli": [], "api": [], "tracked": []}
        cli_uri, api_uri = f"sqlite:///{folder}/cli/mlflow.db", f"sqlite:///{folder}/api/mlflow.db"
        for round_ in range(rounds + 1):
            start = time.perf_counter()
            result = runner.invoke(app, ["identify", "--dataset", "npz", "--data-path", str(data), "--identifier",
                                         "aum", "--seeds", str(seeds), "--epochs", str(epochs), "--set",
                                         "threshold.method=quantile", "--tracking-uri", cli_uri, "--json"])
            cli = time.perf_counter() - start
            if result.exit_code != 0:
                raise RuntimeError(f"hardness identify failed: {result.output[-300:]}")
            start = time.perf_counter()
            hardness.find_hard(x, y, "aum", threshold=0.9, seeds=seeds, epochs=epochs)
            api = time.perf_counter() - start
            start = time.perf_counter()
            hardness.find_hard(x, y, "aum", threshold=0.9, seeds=seeds, epochs=epochs, tracking_uri=api_uri)
            tracked = time.perf_counter() - start
            if round_:  # the first round sets up both stores and warms the caches
                times["cli"].append(cli)
                times["api"].append(api)
                times["tracked"].append(tracked)
    return min(times["cli"]), min(times["api"]), min(times["tracked"])


def time_update(steps: int) -> tuple[float, float]:
    """Median ms of one training step of a small CNN on 1 x 28 x 28 images at batch 128, and of Recorder.update."""
    import hardness

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    optimizer = torch.optim.Adam(model.parameters())
    recorder = hardness.Recorder(20000, 10)
    images, labels = torch.randn(20000, 1, 28, 28), torch.randint(0, 10, (20000,))
    step_ms, update_ms = [], []
    for i in range(steps):
        batch = torch.randint(0, 20000, (128,))
        start = time.perf_counter()
        logits = model(images[batch])
        loss = nn.functional.cross_entropy(logits, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        middle = time.perf_counter()
        recorder.update(batch, logits, labels[batch])
        end = time.perf_counter()
        if i >= 10:  # warm-up
            step_ms.append((middle - start) * 1e3)
            update_ms.append((end - middle) * 1e3)
    return statistics.median(step_ms), statistics.median(update_ms)


def measure_auroc(*, cnn_epochs: int, mlp_epochs: int, seeds: int) -> tuple[dict[str, float], dict[str, float]]:
    """AUROC of the flipped labels per identifier: the recorded CNN loop, and hardness's MLP ensemble."""
    import hardness

    digits = load_digits()
    noisy, flipped = flip_labels(digits.target, 0.1, seed=0)
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    recorder = train_with_recorder(images, torch.tensor(noisy), epochs=cnn_epochs)
    cnn = {name: float(roc_auc_score(flipped, recorder.score(name))) for name in NAMES}
    mlp = {name: float(roc_auc_score(flipped, hardness.score(digits.data, noisy, name, seeds=seeds,
                                                              epochs=mlp_epochs).scores)) for name in NAMES}
    return cnn, mlp


def measure(*, quick: bool) -> ApiNumbers:
    data = load_digits()
    epochs, seeds = (100, 5) if quick else (500, 10)
    cli_s, api_s, tracked_s = time_api(data.data.astype(np.float32), data.target, seeds=seeds, epochs=epochs,
                                       rounds=2 if quick else 3)
    step_ms, update_ms = time_update(60 if quick else 300)
    cnn, mlp = measure_auroc(cnn_epochs=30, mlp_epochs=epochs, seeds=5)
    return ApiNumbers(cli_s, api_s, tracked_s, step_ms, update_ms, cnn, mlp)


def report(numbers: ApiNumbers) -> Table:
    table = Table(title="Detection AUROC of 10% flipped digits labels", header_style="bold")
    table.add_column("identifier")
    table.add_column("small CNN, own loop + Recorder", justify="right")
    table.add_column("MLP ensemble (hardness.score)", justify="right")
    for name in NAMES:
        table.add_row(name, f"{numbers.cnn_auroc[name]:.3f}", f"{numbers.mlp_auroc[name]:.3f}")
    return table
