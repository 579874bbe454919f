"""Run one `hardness` command in this process and record where its wall time goes.

    python -m benchmarks.probe TIMELINE.json run configs/mnist-20k.yaml --set train.epochs=30 ...

Engine fits count as training (with the nominal FLOPs they do) and the main thread's calls into the MLflow tracker as
tracking; both are timed by wrapping the classes' methods, so the command itself runs unchanged. The
timeline (absolute `time.time()` stamps, seconds and FLOPs) is written to TIMELINE.json when the command ends,
whatever its exit code.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Timeline:
    """What the probe saw: when the first fit began, time in fits and in tracking, the fits' nominal FLOPs."""

    first_fit_at: float | None = None
    ended_at: float = 0.0
    training_s: float = 0.0
    tracking_s: float = 0.0
    flops: float = 0.0
    fits: list[dict] = field(default_factory=list)
    """Per engine fit: models, samples, most epochs trained, seconds, GFLOP/s."""
    exit_code: int = 0
    tracking_calls: dict[str, int] = field(default_factory=dict)


class _Clock:
    """Accumulates main-thread time spent in wrapped calls of one kind, counting nested calls once."""

    def __init__(self) -> None:
        self.depth = 0
        self.seconds = 0.0

    def wrap(self, function, on_enter=None, on_exit=None):
        """`function` timed; on_enter(args, kwargs) before, on_exit(args, kwargs, result, seconds) after a return."""
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread() or self.depth:
                return function(*args, **kwargs)
            if on_enter is not None:
                on_enter(args, kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                self.seconds += seconds
                self.depth -= 1
            if on_exit is not None:
                on_exit(args, kwargs, result, seconds)
            return result
        return timed


def fit_flops(engine, x, epochs_trained, train_mask=None) -> float:
    """Nominal FLOPs of one Engine.fit: per-sample-epoch FLOPs x each model's training samples x the epochs it
    trained (a model stopped early counts only its own)."""
    from hardness.engine import flops_per_sample_epoch

    per_sample = flops_per_sample_epoch(x.shape[1], engine.model, engine.n_classes)
    samples = x.shape[0] if train_mask is None else train_mask.sum(1).to(epochs_trained.device)
    return float(per_sample * (samples * epochs_trained).sum())


def instrument(timeline: Timeline) -> tuple[_Clock, _Clock]:
    """Wrap Engine.fit (training), every public Tracker method and RunWriter.close (tracking); returns their clocks."""
    from hardness.engine import Engine
    from hardness.tracking.tracker import Tracker
    from hardness.tracking.writer import RunWriter

    fitting, tracking = _Clock(), _Clock()

    def on_fit(args, kwargs) -> None:
        if timeline.first_fit_at is None:
            timeline.first_fit_at = time.time()

    def after_fit(args, kwargs, result, seconds: float) -> None:
        engine, ensemble, x = args[:3]
        flops = fit_flops(engine, x, result.epochs_trained, kwargs.get("train_mask"))
        timeline.flops += flops
        timeline.fits.append({"models": ensemble.n_models, "samples": int(x.shape[0]),
                              "epochs": int(result.epochs_trained.max()), "seconds": seconds,
                              "gflops": flops / seconds / 1e9})

    Engine.fit = fitting.wrap(Engine.fit, on_fit, after_fit)
    for name, method in list(vars(Tracker).items()):
        if callable(method) and not name.startswith("_"):
            def count(args, kwargs, name=name) -> None:
                _count(timeline, name)
            setattr(Tracker, name, tracking.wrap(method, count))
    # child runs are written by the writer's threads: the main thread's wait for them is what tracking costs the run
    RunWriter.close = tracking.wrap(RunWriter.close, lambda args, kwargs: _count(timeline, "RunWriter.close"))
    return fitting, tracking


def _count(timeline: Timeline, name: str) -> None:
    timeline.tracking_calls[name] = timeline.tracking_calls.get(name, 0) + 1


def main(argv: list[str]) -> int:
    out, command = argv[0], argv[1:]
    timeline = Timeline()
    fitting, tracking = instrument(timeline)
    from hardness.cli import main as hardness_main

    sys.argv = ["hardness", *command]
    try:
        hardness_main()
    except SystemExit as stop:
        timeline.exit_code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    timeline.training_s, timeline.tracking_s, timeline.ended_at = fitting.seconds, tracking.seconds, time.time()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(asdict(timeline), handle)
    return timeline.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
