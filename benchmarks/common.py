"""What every benchmark shares: the console, the MNIST workload, the machine's matmul peak and its background load."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
from rich.console import Console

from hardness.config import DataConfig
from hardness.data import load_dataset

console = Console(width=None if sys.stdout.isatty() else 120)
"""Wide enough for the tables when the output goes to a file."""


def load_mnist(root: str, subset_size: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x [N, 784] standardised float32 and y [N], prepared exactly as `hardness run` prepares MNIST."""
    dataset = load_dataset(DataConfig(name="mnist", root=root, subset_size=subset_size), seed)
    return dataset.x, dataset.y


def measure_peak_gflops(repeats: int = 3) -> float:
    """Best fp32 sgemm rate of [20000, 784] x [784, 2000] (the shape class of the engine's big products)."""
    a, b = torch.randn(20000, 784), torch.randn(784, 2000)
    out = torch.empty(20000, 2000)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * 20000 * 784 * 2000 / best / 1e9


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
