"""How many threads torch computes with: `train.threads` (`--threads`), else OMP_NUM_THREADS, else the cores this
process may use.

The cores available are those of the CPU affinity mask, capped by the cgroup's CPU quota (a container limited to
2 CPUs on a 64-core host gets 2), so a fit neither idles allowed cores nor oversubscribes a quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"
CFS_QUOTA = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))  # cgroup v1


def parse_cpu_max(text: str) -> float | None:
    """CPUs a cgroup v2 `cpu.max` line allows ('200000 100000' -> 2.0), None for 'max' (no quota) or nonsense."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpus() -> float | None:
    """The CPU quota of this process's cgroup (v2, else v1) in CPUs, or None when there is none."""
    try:
        return parse_cpu_max(CPU_MAX.read_text())
    except OSError:
        pass
    try:
        return parse_cpu_max(" ".join(path.read_text().strip() for path in CFS_QUOTA).replace("-1 ", "max "))
    except OSError:
        return None


def available_cores() -> int:
    """Cores this process may run on: the affinity mask's, capped by the cgroup's quota (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS, Windows)
        cores = os.cpu_count() or 1
    quota = cgroup_cpus()
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def environment_threads() -> int | None:
    """OMP_NUM_THREADS when it is a positive integer: a choice made for this process (e.g. one per parallel worker)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def set_threads(requested: int | None, *, default: int | None = None) -> int:
    """Set torch's intra-op threads to `requested`, else OMP_NUM_THREADS, else `default`, else available_cores();
    returns the number set."""
    import torch

    threads = requested or environment_threads() or default or available_cores()
    torch.set_num_threads(threads)
    return threads
