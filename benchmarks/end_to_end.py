"""Whole commands as a user runs them, timed from launch to exit: start-up, training, tracking and the rest.

    python -m benchmarks radii [--quick]       hardness run configs/mnist-20k.yaml (quick: 30 epochs, no retries)
    python -m benchmarks study [--quick]       hardness benchmark configs/benchmark-mnist-20k.yaml (quick: reduced)

Each command runs in a fresh interpreter under benchmarks.probe against a throwaway SQLite store (or
`--tracking-uri`), so start-up includes imports, reading the data and opening the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

RADII_QUICK = ["--epochs", "30", "--set", "inversion.max_retries=0"]
"""The quick radii run: the paper's 100 seeds on 20k MNIST, 30 epochs, no retries (so the work is known exactly)."""
STUDY_QUICK = ["--epochs", "100", "--set", "imbalance.hard_sets=1", "--set", "imbalance.inits=2",
               "--set", "imbalance.train_ratios=[0.9]", "--set", "imbalance.remaining=[0.0,0.5,1.0]",
               "--set", "benchmark.error_models=10", "--set", "inversion.max_retries=0"]
"""The quick benchmark: the paper's three identifiers and its error procedure, 100 epochs (classes must invert), one small grid."""


@dataclass(frozen=True)
class CommandTiming:
    """Seconds of one command from launch to exit, split into phases, and the FLOPs its fits did."""

    command: list[str]
    wall_s: float
    startup_s: float
    training_s: float
    tracking_s: float
    flops: float
    exit_code: int
    tracking_calls: dict[str, int]
    fits: list[dict]

    @property
    def other_s(self) -> float:
        """Time in neither start-up, training nor tracking (tables, figures, identification outside fits, exit)."""
        return max(0.0, self.wall_s - self.startup_s - self.training_s - self.tracking_s)

    def gflops(self) -> float:
        return self.flops / self.training_s / 1e9 if self.training_s else float("nan")


def time_command(command: list[str], *, tracking_uri: str | None = None, threads: int | None = None) -> CommandTiming:
    """Run `hardness <command>` in a fresh interpreter under the probe; a failed command raises RuntimeError."""
    with tempfile.TemporaryDirectory(prefix="hardness-bench-") as folder:
        uri = tracking_uri or f"sqlite:///{folder}/mlflow.db"
        out = Path(folder) / "timeline.json"
        full = [*command, "--tracking-uri", uri, "--json", *(["--threads", str(threads)] if threads else [])]
        env = {**os.environ, "PYTHONPATH": f"{REPOSITORY}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        launched = time.time()
        result = subprocess.run([sys.executable, "-m", "benchmarks.probe", str(out), *full], cwd=folder, env=env,
                                capture_output=True, text=True)
        exited = time.time()
        if result.returncode != 0 or not out.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"hardness {' '.join(command)} exited {result.returncode}: {' | '.join(tail)}")
        seen = json.loads(out.read_text(encoding="utf-8"))
    first_fit = seen["first_fit_at"] or seen["ended_at"]
    return CommandTiming(command, exited - launched, first_fit - launched, seen["training_s"], seen["tracking_s"],
                         seen["flops"], seen["exit_code"], seen["tracking_calls"], seen["fits"])


def radii_command(data_root: str, *, quick: bool) -> list[str]:
    """`hardness run` on the paper's 20k MNIST radii config (quick: RADII_QUICK)."""
    return ["run", str(REPOSITORY / "configs/mnist-20k.yaml"), "--data-root", str(Path(data_root).resolve()),
            *(RADII_QUICK if quick else [])]


def study_command(data_root: str, *, quick: bool) -> list[str]:
    """`hardness benchmark` on the paper's 20k MNIST identifier benchmark (quick: STUDY_QUICK)."""
    return ["benchmark", str(REPOSITORY / "configs/benchmark-mnist-20k.yaml"), "--data-root",
            str(Path(data_root).resolve()), *(STUDY_QUICK if quick else [])]
