"""A run described as data (`RunPayload`) and the pure split of its values into batches within MLflow's limits.

Studies prepare payloads without side effects; the tracker writes them (Tracker.write_run, Tracker.child_writer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class RunPayload:
    """Everything one run logs: params, tags, curves {name: values[i] at steps[i]}, scalar metrics (step 0) and
    tables {artifact file: frame} written as CSV."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    steps: Sequence[int] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def points(self) -> list[tuple[str, float, int]]:
        """(key, value, step) of the series, each in step order, NaN skipped, then the scalar metrics at step 0."""
        return [*series_points(self.series, self.steps), *((k, float(v), 0) for k, v in self.metrics.items())]


def series_points(series: Mapping[str, Sequence[float]], steps: Sequence[int]) -> list[tuple[str, float, int]]:
    """(key, value, step) for curves {key: values[i] at steps[i]}, in the order given; NaN values are skipped."""
    steps = [int(s) for s in steps]
    points = []
    for key, values in series.items():
        if len(values) != len(steps):
            raise ValueError(f"series {key!r} has {len(values)} values for {len(steps)} steps")
        points += [(key, float(v), s) for v, s in zip(values, steps) if not math.isnan(float(v))]
    return points


CURVE_POINTS = 100
"""Points per logged curve when tracking.curve_every is not set."""


def curve_stride(every: int | None, epochs: int) -> int:
    """The epoch stride of logged curves: `every`, else the one that gives about CURVE_POINTS points."""
    return every if every is not None else max(1, epochs // CURVE_POINTS)


def thin_curve(steps: Sequence[int], stride: int) -> list[int]:
    """Positions in `steps` to log: the steps that are multiples of `stride`, and the last one."""
    keep = [i for i, step in enumerate(steps) if step % stride == 0]
    if steps and (not keep or keep[-1] != len(steps) - 1):
        keep.append(len(steps) - 1)
    return keep


@dataclass(frozen=True)
class BatchLimits:
    """How much one log_batch call may carry (MLflow's MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
    MAX_ENTITIES_PER_BATCH)."""

    metrics: int
    params_tags: int
    entities: int


@dataclass(frozen=True)
class Batch:
    """The content of one log_batch call."""

    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    metrics: list[tuple[str, float, int]]


def plan_batches(params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]],
                 metrics: Sequence[tuple[str, float, int]], limits: BatchLimits) -> list[Batch]:
    """The fewest calls within `limits`: params and tags go first, metrics fill the room left, in the order given."""
    batches: list[Batch] = []
    start_params = start_tags = start_metrics = 0
    while start_params < len(params) or start_tags < len(tags) or start_metrics < len(metrics):
        some_params = list(params[start_params:start_params + limits.params_tags])
        some_tags = list(tags[start_tags:start_tags + limits.params_tags])
        room = min(limits.metrics, limits.entities - len(some_params) - len(some_tags))
        some_metrics = list(metrics[start_metrics:start_metrics + room])
        batches.append(Batch(some_params, some_tags, some_metrics))
        start_params, start_tags = start_params + len(some_params), start_tags + len(some_tags)
        start_metrics += len(some_metrics)
    return batches
