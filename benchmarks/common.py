"""What every benchmark shares: the console, the MNIST workload, the machine's matmul peak and its background load."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
from rich.console import Console

from hardness.config import DataConfig
from hardness.datasets.prepare import load_dataset

console = Console(width=None if sys.stdout.isatty() else 120)
"""Wide enough for the tables when the output goes to a file."""


def load_mnist(root: str, subset_size: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x [N, 784] standardised float32 and y [N], prepared exactly as `hardness run` prepares MNIST: from the folder
    holding MNIST/raw, or from an .npz of its pixels x [70000, 28, 28] uint8 and labels y (scripts/gpu-check.sh)."""
    data = DataConfig(name="npz", path=root) if root.endswith(".npz") else DataConfig(name="mnist", root=root)
    dataset = load_dataset(data.model_copy(update={"subset_size": subset_size}), seed)
    return dataset.x, dataset.y


PEAK_SHAPES = {"cpu": (20000, 784, 2000), "cuda": (8192, 8192, 8192)}
"""(m, k, n) of the sgemm that measures a device's peak: on a CPU the shape class of the engine's big products, on a
GPU one large enough to fill it."""


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device` (a GPU runs asynchronously; a CPU has nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak_gflops(repeats: int = 3, device: torch.device = torch.device("cpu")) -> float:
    """Best fp32 sgemm rate [m, k] x [k, n] on `device` (PEAK_SHAPES)."""
    m, k, n = PEAK_SHAPES[device.type]
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def read_cpu_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks of this process and its waited-for children) from /proc, or (0, 0)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return sum(fields[:3]) + sum(fields[5:8]), sum(int(v) for v in own[11:15])
    except (OSError, ValueError, IndexError):
        return 0, 0


class LoadMeter:
    """How many cores other processes kept busy while a measurement ran (timings are unreliable above ~0.1)."""

    def __init__(self) -> None:
        self.ticks, self.started = read_cpu_ticks(), time.perf_counter()

    def others(self) -> float:
        now = read_cpu_ticks()
        busy = (now[0] - self.ticks[0]) - (now[1] - self.ticks[1])
        return max(0.0, busy / os.sysconf("SC_CLK_TCK") / (time.perf_counter() - self.started))
