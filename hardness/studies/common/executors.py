"""Where a study's work units run: one after another in this process, or spread over Dask workers.

A work unit is a pure computation: `function(unit, *, progress, **shared)` with a picklable unit and shared inputs
(dataset, config, hard sets) in, results out. The study shell keeps all tracking, so workers never talk to MLflow;
it leaves out the units already FINISHED in MLflow before mapping the others, so a rerun after a lost worker (or a
lost main process) completes the study. Shared inputs are sent to every worker once per executor, not per unit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from hardness.config import ExecutorConfig
from hardness.engine.progress import Progress
from hardness.engine.threads import available_cores
from hardness.errors import EnvironmentProblem

U = TypeVar("U")
R = TypeVar("R")


class Executor(Protocol):
    """Maps a unit function over units; `parallel_fits` is how many units may train at once on this machine."""

    parallel_fits: int

    def map(self, function: Callable[..., R], units: Sequence[U], shared: dict[str, Any], *,
            progress: Progress | None = None, label: str = "unit") -> Iterator[tuple[U, R]]:
        """(unit, result) pairs, each as soon as it is done; work may start before the iterator is read."""
        ...


class LocalExecutor:
    """Units one after another in this process, in order; each unit's progress is drawn as its share of one bar."""

    parallel_fits = 1

    def map(self, function: Callable[..., R], units: Sequence[U], shared: dict[str, Any], *,
            progress: Progress | None = None, label: str = "unit") -> Iterator[tuple[U, R]]:
        for index, unit in enumerate(units):
            yield unit, function(unit, progress=_share_of(progress, index, len(units), label), **shared)


def _share_of(progress: Progress | None, index: int, count: int, label: str) -> Progress | None:
    """The progress of unit `index` of `count` as the index-th of `count` equal parts of one bar."""
    if progress is None:
        return None

    def report(done: int, total: int, status: str = "") -> None:
        where = f"{label} {index + 1}/{count}"
        progress(index * total + done, count * total, f"{where}: {status}" if status else where)

    return report


class DaskExecutor:
    """Units submitted to a Dask cluster all at once; results come back as units finish, in any order.

    A worker that dies takes its units with it: Dask reruns them on the other workers (up to its
    `distributed.scheduler.allowed-failures`), and what is lost for good is recomputed by the study's next rerun.
    """

    def __init__(self, client: Any, *, threads: int, parallel_fits: int):
        self.client, self.threads, self.parallel_fits = client, threads, parallel_fits
        self._shared: dict[int, tuple[Any, Any]] = {}

    def _scatter(self, value: Any) -> Any:
        """`value` sent to every worker once (kept by identity for the executor's lifetime)."""
        if id(value) not in self._shared:
            # wrapped in a list: scatter would send a list's or dict's items one by one
            self._shared[id(value)] = (value, self.client.scatter([value], broadcast=True, hash=False)[0])
        return self._shared[id(value)][1]

    def map(self, function: Callable[..., R], units: Sequence[U], shared: dict[str, Any], *,
            progress: Progress | None = None, label: str = "unit") -> Iterator[tuple[U, R]]:
        remote = {name: self._scatter(value) for name, value in shared.items()}
        futures = {self.client.submit(run_unit, function, unit, self.threads, pure=False, **remote): unit
                   for unit in units}
        return self._collect(futures, progress, label)

    def _collect(self, futures: dict[Any, U], progress: Progress | None, label: str) -> Iterator[tuple[U, R]]:
        from distributed import KilledWorker, as_completed

        workers = len(self.client.nthreads())
        if progress is not None:
            progress(0, len(futures), f"{label}s on {workers} Dask workers")
        try:
            for done, future in enumerate(as_completed(futures), 1):
                try:
                    result = future.result()
                except KilledWorker as error:
                    raise EnvironmentProblem(f"Dask workers kept dying on a {label} ({error}): check their memory "
                                             f"and logs, then rerun to finish the units left") from None
                if progress is not None:
                    progress(done, len(futures), f"{label}s on {workers} Dask workers")
                yield futures[future], result
        finally:  # an error or an interrupt here: the units still queued are of no use
            self.client.cancel(list(futures))


def run_unit(function: Callable[..., R], unit: Any, threads: int, **shared: Any) -> R:
    """One unit on a Dask worker: torch with `threads` threads (one per worker by default), no progress bar."""
    from hardness.engine.threads import set_threads

    set_threads(threads)
    return function(unit, progress=None, **shared)


def parallel_fits(config: ExecutorConfig) -> int:
    """How many units may train at once on this machine: the local Dask cluster's workers, else 1."""
    if config.kind == "dask" and config.scheduler is None:
        return config.workers or available_cores()
    return 1


@contextmanager
def open_executor(config: ExecutorConfig, *, threads: int | None = None) -> Iterator[Executor]:
    """The configured executor, its cluster shut down on exit. `threads`: torch threads per Dask worker (default 1:
    a worker is one single-threaded process per core). An unreachable scheduler or a missing Dask is exit 3."""
    if config.kind == "local":
        yield LocalExecutor()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise EnvironmentProblem("--executor dask needs Dask distributed: pip install 'hardness[dask]'") from None
    if config.scheduler is None:
        workers = parallel_fits(config)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                          silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield DaskExecutor(client, threads=threads or 1, parallel_fits=workers)
        return
    with connect(config.scheduler) as client:
        yield DaskExecutor(client, threads=threads or 1, parallel_fits=1)


@contextmanager
def connect(scheduler: str) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`: an address (tcp://host:8786) or a scheduler file (JSON). It waits
    Dask's connect timeout (`distributed.comm.timeouts.connect`, 30 s unless configured) for the scheduler."""
    from distributed import Client

    by_file = scheduler.endswith(".json") or os.path.isfile(scheduler)
    try:
        client = Client(scheduler_file=scheduler) if by_file else Client(scheduler)
    except (OSError, TimeoutError, ValueError) as error:
        raise EnvironmentProblem(f"cannot reach the Dask scheduler {scheduler}: {str(error).splitlines()[0]} "
                                 f"(start it with `dask scheduler`, or check --scheduler)") from None
    with client:
        yield client
