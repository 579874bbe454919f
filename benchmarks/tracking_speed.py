"""How long does tracking take? The child runs of the 20k radii run written the old way and the new way, in one process.

    python -m benchmarks.tracking_speed [--quick] [--children 100] [--seeds 100] [--training-s 420] [--rounds 1]
                                        [--backends sqlite,server] [--server-backend-uri URI]

Each child has what `hardness run configs/mnist-20k.yaml` logs per seed: the full flat config as params, the standard
tags, 10 radius curves and the loss over 501 epochs (5,511 step metrics), ~30 scalar metrics and two CSV tables.

1. old: the sequential per-call pattern the stragglers study used before (a faithful minimal copy below): per child
   create_run, log_batch of params, log_batch of the curves, log_batch of the scalars, two log_artifact,
   set_terminated, one child after the other;
2. new: what the stragglers study logs now through `Tracker.child_writer` (tags in create_run, params and metrics
   packed into batches of MLflow's limits, several children at once where the store allows it), with the curves at
   every 5th epoch (`tracking.curve_every`'s default for 500 epochs: 1,111 step metrics).

Both run against a fresh SQLite store each and against a real `mlflow server` each (its default 4 workers, on a fresh
SQLite store unless --server-backend-uri names another database) started here on 127.0.0.1, old then new. The time
per call type is summed over the store's requests (MLflow's client splits a log_batch of more than 1,000 values into
several; threads overlap, so the new way's sum can exceed its wall time). The share of a run is the time projected
for `--seeds` children over that plus `--training-s` of training.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

from benchmarks.common import LoadMeter, console
from hardness.config import load_config
from hardness.tracking import schema
from hardness.tracking.payloads import RunPayload, curve_stride, thin_curve
from hardness.tracking.tracker import Tracker, tracking_tags

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist-20k.yaml"
CALLS = ("create_run", "log_batch", "update_run_info", "log_artifact")
"""What is timed: the store's requests (one per HTTP call to a server; set_terminated is an update_run_info) and
the client's artifact uploads."""


def build_children(n: int, *, epochs: int = 500, n_classes: int = 10, hard_rows: int = 1000,
                   curve_every: int = 1) -> list[RunPayload]:
    """`n` child payloads shaped like the radii run's seeds (random values, real config and tags), their curves at
    every `curve_every`-th epoch (the radii table keeps every epoch)."""
    generator = np.random.default_rng(0)
    flat = load_config(CONFIG).flat()
    epochs_all = list(range(epochs + 1))
    steps = [epochs_all[i] for i in thin_curve(epochs_all, curve_every)]
    tags = {**tracking_tags(), schema.DATASET: "mnist", schema.FINGERPRINT: "f" * 64, schema.THREADS: "2",
            schema.KIND: "stragglers", schema.GROUP: "parent", schema.DIVERGED: "false"}
    children = []
    for k in range(n):
        radii = generator.random((len(epochs_all), n_classes))
        series = {schema.per_class(schema.RADIUS, c): radii[steps, c].tolist() for c in range(n_classes)}
        series[schema.LOSS] = generator.random(len(epochs_all))[steps].tolist()
        metrics = {f"{schema.STRAGGLERS}/class_{c}": float(c) for c in range(n_classes)}
        metrics |= {f"{schema.INVERSION_EPOCH}/class_{c}": float(c) for c in range(n_classes)}
        metrics |= {f"noise/m{i}": float(i) for i in range(10)}
        hard = pd.DataFrame({"original_index": generator.integers(0, 20000, hard_rows),
                             "label": generator.integers(0, n_classes, hard_rows), "inversion_epoch": 30, "attempt": 0})
        table = pd.DataFrame(radii, columns=[f"class_{c}" for c in range(n_classes)]).assign(epoch=epochs_all)
        children.append(RunPayload(f"seed-{k}", {**flat, "model.index": k, "model.seed": k}, tags, series, steps,
                                   metrics, {schema.STRAGGLERS_TABLE: hard, schema.RADII_TABLE: table}))
    return children


def write_old(tracker: Tracker, parent: str, children: list[RunPayload]) -> None:
    """The sequential per-call pattern before Tracker.child_writer, with MLflow's client directly."""
    from mlflow.entities import Metric, Param

    client = tracker.client
    for child in children:
        tags = {**child.tags, schema.RUN_NAME: child.name, schema.PARENT_RUN_ID: parent}
        run_id = client.create_run(tracker.experiment_id, run_name=child.name, tags=tags).info.run_id
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in child.params.items()])
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, float(v), now, s) for key, values in child.series.items()
                                          for v, s in zip(values, child.steps)])
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in child.metrics.items()])
        for artifact_file, frame in child.tables.items():
            folder, name = os.path.split(artifact_file)
            with tempfile.TemporaryDirectory() as tmp:
                frame.to_csv(Path(tmp) / name, index=False)
                client.log_artifact(run_id, str(Path(tmp) / name), artifact_path=folder or None)
        client.set_terminated(run_id, "FINISHED")


def write_new(tracker: Tracker, parent: str, children: list[RunPayload]) -> None:
    """The payloads through the tracker's child writer."""
    with tracker.child_writer(parent) as writer:
        for child in children:
            writer.submit(child)


@dataclass
class Timing:
    """One way of writing on one store: wall seconds, and per call type (count, summed seconds)."""

    wall_s: float = 0.0
    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))


@dataclass
class BackendNumbers:
    backend: str
    children: int
    old: Timing
    new: Timing

    @property
    def ratio(self) -> float:
        return self.old.wall_s / self.new.wall_s

    def share(self, seeds: int, training_s: float, way: str) -> float:
        """Tracking's share of a run of `seeds` children after `training_s` of training."""
        tracking = getattr(self, way).wall_s / self.children * seeds
        return tracking / (training_s + tracking)


@dataclass
class TrackingNumbers:
    backends: list[BackendNumbers]
    seeds: int
    training_s: float
    load: float
    """Cores other processes kept busy while this ran."""


@contextmanager
def counted(tracker: Tracker, timing: Timing) -> Iterator[None]:
    """Time the store's requests and the artifact uploads by type into `timing` while the block runs."""
    store = tracker.client._tracking_client.store  # below the client: its requests, as the store sees them
    owners = {name: tracker.client if name == "log_artifact" else store for name in CALLS}
    originals = {name: getattr(owners[name], name) for name in CALLS}

    def timed(name: str, call: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                timing.calls[name][0] += 1
                timing.calls[name][1] += time.perf_counter() - start
        return wrapper

    for name, call in originals.items():
        setattr(owners[name], name, timed(name, call))
    start = time.perf_counter()
    try:
        yield
    finally:
        timing.wall_s += time.perf_counter() - start
        for name in CALLS:
            delattr(owners[name], name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mlflow_server(backend_uri: str, folder: Path) -> Iterator[str]:
    """`mlflow server` (default workers, job runner off) on 127.0.0.1 until the block ends; yields its URL. Its output
    goes to a file (a full pipe would block it); its whole process group is stopped at the end."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri, "--serve-artifacts",
               "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "OMP_NUM_THREADS": "1"}
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: see {folder / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def open_store(backend: str, folder: Path, server_backend_uri: str | None) -> Iterator[str]:
    """A fresh SQLite store in `folder`, or a server started on one (or on `server_backend_uri`); yields its URI."""
    sqlite = f"sqlite:///{folder}/mlflow.db"
    if backend == "sqlite":
        yield sqlite
        return
    store = server_backend_uri or sqlite
    Tracker(store, "tracking-speed")  # the schema exists before the server's workers race to create it
    with mlflow_server(store, folder) as url:
        yield url


def measure(*, children: int = 100, seeds: int = 100, training_s: float = 420.0, rounds: int = 1,
            backends: tuple[str, ...] = ("sqlite", "server"), server_backend_uri: str | None = None) -> TrackingNumbers:
    """Old then new, `rounds` times on each backend, each time in a fresh store (a store that already holds the other
    way's runs is slower to write to)."""
    meter, found = LoadMeter(), []
    thinned = curve_stride(None, 500)
    payloads = {write_old: build_children(children), write_new: build_children(children, curve_every=thinned)}
    with tempfile.TemporaryDirectory(prefix="tracking-speed-") as tmp:
        for backend in backends:
            old, new = Timing(), Timing()
            for round_ in range(rounds):
                for timing, write in ((old, write_old), (new, write_new)):
                    folder = Path(tmp) / f"{backend}-{write.__name__}-{round_}"
                    folder.mkdir()
                    with open_store(backend, folder, server_backend_uri) as uri:
                        tracker = Tracker(uri, f"tracking-speed-{write.__name__}-{round_}")
                        with tracker.run(write.__name__) as parent, counted(tracker, timing):
                            write(tracker, parent, payloads[write])
            for timing in (old, new):
                timing.wall_s /= rounds
                timing.calls = {name: [count / rounds, seconds / rounds] for name, (count, seconds) in
                                timing.calls.items()}
            found.append(BackendNumbers(backend, children, old, new))
    return TrackingNumbers(found, seeds, training_s, meter.others())


def report(numbers: TrackingNumbers) -> Table:
    """Wall times, ratio, share of a run, and the time per call type."""
    table = Table(title=f"Tracking {numbers.backends[0].children} child runs (others kept {numbers.load:.1f} cores "
                        f"busy); share of a {numbers.seeds}-seed run after {numbers.training_s:.0f} s of training")
    for column in ("store", "way", "wall s", "ms/child", "old/new", "share", *CALLS):
        table.add_column(column, justify="left" if column in ("store", "way") else "right")
    for found in numbers.backends:
        for way in ("old", "new"):
            timing: Timing = getattr(found, way)
            calls = [f"{count:.0f} / {seconds:.1f} s" if count else "-"
                     for count, seconds in (timing.calls.get(name, (0, 0.0)) for name in CALLS)]
            table.add_row(found.backend, way, f"{timing.wall_s:.1f}", f"{1000 * timing.wall_s / found.children:.0f}",
                          f"{found.ratio:.2f}x" if way == "new" else "",
                          f"{100 * found.share(numbers.seeds, numbers.training_s, way):.1f}%", *calls)
    return table


def main(argv: list[str] | None = None) -> TrackingNumbers:
    parser = argparse.ArgumentParser(prog="tracking_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 children instead of 100")
    parser.add_argument("--children", type=int, default=None, help="children written per way (default 100)")
    parser.add_argument("--seeds", type=int, default=100, help="children of the run whose share is projected")
    parser.add_argument("--training-s", type=float, default=420.0, help="that run's training time (the 20k radii run: "
                        "~420 s on 2 cores)")
    parser.add_argument("--rounds", type=int, default=1, help="old/new alternations per store")
    parser.add_argument("--backends", default="sqlite,server", help="comma-separated: sqlite, server")
    parser.add_argument("--server-backend-uri", default=None, help="database behind the server (default: a fresh "
                        "SQLite file), e.g. postgresql+psycopg://user:pw@127.0.0.1/mlflow")
    args = parser.parse_args(argv)
    numbers = measure(children=args.children or (20 if args.quick else 100), seeds=args.seeds,
                      training_s=args.training_s, rounds=args.rounds, backends=tuple(args.backends.split(",")),
                      server_backend_uri=args.server_backend_uri)
    console.print(report(numbers))
    return numbers


if __name__ == "__main__":
    main()
