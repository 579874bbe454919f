"""Talks to MLflow (with hardness.tracking.reader, its read half): resolve the store, then log runs, metrics, series
and artifacts.

Every call goes through an explicit MlflowClient (no global active run, no `set_tracking_uri`), so
child runs can be started from any thread and nothing leaks through the environment.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
)
from sqlalchemy.exc import SQLAlchemyError

from hardness import __version__
from hardness.errors import EnvironmentProblem, UserError, environment_problem, full_disk_problem
from hardness.interrupts import deferred_signals
from hardness.redaction import redact, redact_url
from hardness.tracking import schema
from hardness.tracking.heartbeat import Heartbeat, is_stale
from hardness.tracking.payloads import BatchLimits, RunPayload, plan_batches, series_points
from hardness.tracking.reader import RunReader
from hardness.tracking.stores import check_reachable, check_sqlite_store
from hardness.tracking.writer import Abandoned, RunWriter

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent first use of a new store is then unguarded
    fcntl = None

DEFAULT_STORE_DIR = "mlruns"
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow and alembic announce schema setup at INFO on every new store; keep the terminal for our output
logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)
# MLflow logs every database error it re-raises with its SQL and parameters (a full disk: dozens of lines); the error
# itself still reaches the CLI, which prints it as one line
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
# against a tracking server MLflow prints a "View run" link on stdout as each run ends (and fetches the run for it):
# that would break --json output
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

DATASET_CONTEXT = "mlflow.data.context"
BATCH_LIMITS = BatchLimits(MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH, MAX_ENTITIES_PER_BATCH)
RESERVE_BYTES = 64 * 1024
"""Disk kept free beside a local store for ending runs when the disk fills (a few SQLite journal pages suffice)."""
WRITER_WORKERS = {"server": 4, "local": 1}
"""Threads writing child runs at once. A tracking server works on several requests at once (4 threads: 2.5-2.8x
faster than one after another); a store in this process spends its time in MLflow's Python (~60 us per metric value),
so more threads only contend (benchmarks/tracking_speed.py)."""


def resolve_tracking_uri(uri: str | None) -> str:
    """Explicit uri > $MLFLOW_TRACKING_URI > sqlite:///<abs ./mlruns>/mlflow.db; folder stores are refused."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{Path(DEFAULT_STORE_DIR).resolve()}/mlflow.db"
    if urlparse(uri).scheme in ("", "file"):
        raise UserError(f"tracking uri {redact_url(uri)!r} is a plain folder store, which MLflow 3.13+ refuses: "
                        f"use sqlite:///path/to/mlflow.db instead")
    return uri


def ui_command(uri: str | None, *, host: str, port: int) -> list[str] | None:
    """The `mlflow ui` command serving the resolved store (None for a tracking server: it serves its own UI).

    A local store must exist: MLflow would otherwise create an empty one silently.
    """
    resolved = resolve_tracking_uri(uri)
    if urlparse(resolved).scheme in ("http", "https"):
        return None
    db = _sqlite_path(resolved)
    if db is not None and not db.is_file():
        raise UserError(f"no MLflow store at {db}: run an experiment first or pass --tracking-uri")
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", resolved, "--host", host, "--port", str(port)]


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI (absolute), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?")[0]).resolve()


@contextmanager
def _store_lock(db: Path | None) -> Iterator[None]:
    """Hold an exclusive lock beside a local SQLite store: MLflow's schema setup fails when processes race."""
    if db is None or fcntl is None:
        yield
        return
    with open(db.parent / f".{db.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker(RunReader):
    """One experiment in one store; every method takes the run id, so runs may be logged from any thread. The reading
    methods are RunReader's."""

    def __init__(self, uri: str | None, experiment: str, *, must_exist: bool = False):
        self.uri = resolve_tracking_uri(uri)
        check_reachable(self.uri)
        db = self.db_path = _sqlite_path(self.uri)
        if db is not None:
            if must_exist and not db.is_file():  # MLflow would silently create an empty store
                raise UserError(f"no MLflow store at {db} (tracking uri {self.uri}): "
                                f"run an experiment first or pass the right tracking uri")
            check_sqlite_store(db)
            keep_reserve(db)
        try:
            with _store_lock(db):  # the client sets up the schema of a new store on first use
                self.client = mlflow.MlflowClient(tracking_uri=self.uri)
                self.experiment_name = experiment
                found = self.client.get_experiment_by_name(experiment)
                if found is None and must_exist:
                    raise UserError(f"experiment {experiment!r} not found in {redact_url(self.uri)}")
                if found is not None and found.lifecycle_stage == "deleted":
                    raise UserError(f"experiment {experiment!r} in {redact_url(self.uri)} is deleted: restore it "
                                    f"(mlflow experiments restore) or pick another name")
                self.experiment_id = found.experiment_id if found else self._create_experiment(experiment, db)
                if found is not None and found.tags.get(schema.EXPERIMENT_KIND) != schema.EXPERIMENT_KIND_VALUE:
                    self.client.set_experiment_tag(self.experiment_id, schema.EXPERIMENT_KIND,
                                                   schema.EXPERIMENT_KIND_VALUE)
        except (MlflowException, SQLAlchemyError) as error:  # an out-of-date schema, a server refusing, a full disk...
            problem = environment_problem(error)
            if problem is not None:
                raise problem from None
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise EnvironmentProblem(f"the MLflow store {redact_url(self.uri)} cannot be used: "
                                     f"{redact(first, self.uri)}") from None
        self.heartbeat = Heartbeat(self._beat)

    def _beat(self, run_ids: list[str]) -> None:
        """Mark open runs alive (tag HEARTBEAT): a run left RUNNING by a killed process stops beating."""
        now = str(_now_ms())
        for run_id in run_ids:
            self.client.log_batch(run_id, tags=[RunTag(schema.HEARTBEAT, now)])

    def _create_experiment(self, name: str, db: Path | None) -> str:
        """Create `name`; in a SQLite store its artifacts go to <db folder>/artifacts/<name>."""
        location = str(db.parent / "artifacts" / re.sub(r"[^\w.-]+", "_", name)) if db else None
        try:
            return self.client.create_experiment(name, artifact_location=location,
                                                 tags={schema.EXPERIMENT_KIND: schema.EXPERIMENT_KIND_VALUE})
        except MlflowException:  # another process created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def start_run(self, name: str, *, parent_run_id: str | None = None, params: dict | None = None,
                  tags: dict | None = None) -> str:
        """Create a run (a child of `parent_run_id` if given) with its tags, log its params; returns the run id."""
        run_id = self._create_run(name, parent_run_id, tags or {})
        try:
            if params:
                self.log_params(run_id, params)
        except BaseException as error:  # created but not yet handed over: it must not stay RUNNING
            self._end_even_on_a_full_disk(run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise
        return run_id

    def _create_run(self, name: str, parent_run_id: str | None, tags: dict) -> str:
        """One create_run call carrying every tag, the name and the parent."""
        run_tags = {**{k: str(v) for k, v in tags.items()}, schema.RUN_NAME: name}
        if parent_run_id is not None:
            run_tags[schema.PARENT_RUN_ID] = parent_run_id
        return self.client.create_run(self.experiment_id, run_name=name, tags=run_tags).info.run_id

    def write_run(self, payload: RunPayload, *, parent_run_id: str | None = None,
                  stop: threading.Event | None = None) -> str:
        """Write a whole run: create it with its tags, log params and metrics in the fewest batches MLflow allows,
        save its tables; it ends FINISHED once all landed, FAILED on error, KILLED when `stop` is set between calls."""
        run_id = self._create_run(payload.name, parent_run_id, dict(payload.tags))
        now = _now_ms()
        with self._ending(run_id):
            for batch in plan_batches(_param_values(payload.params), [], payload.points(), BATCH_LIMITS):
                _check(stop)
                self.client.log_batch(run_id, metrics=[Metric(k, v, now, s) for k, v, s in batch.metrics],
                                      params=[Param(k, v) for k, v in batch.params])
            for artifact_file, frame in payload.tables.items():
                _check(stop)
                self.log_table(run_id, frame, artifact_file)
        return run_id

    def child_writer(self, parent_run_id: str, *, workers: int | None = None) -> RunWriter:
        """A RunWriter writing payloads as children of `parent_run_id` from background threads (WRITER_WORKERS)."""
        if workers is None:
            workers = WRITER_WORKERS["server" if urlparse(self.uri).scheme in ("http", "https") else "local"]
        return RunWriter(lambda payload, stop: self.write_run(payload, parent_run_id=parent_run_id, stop=stop),
                         workers=workers)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Log parameters (values as strings, cut to MLflow's limit) in one batch."""
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in _param_values(params)])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        """Log scalar metrics at one step (0 if None) in one batch."""
        now = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()])

    def log_series(self, run_id: str, series: dict[str, Sequence[float]], steps: Sequence[int]) -> None:
        """Log curves {name: values[i] at steps[i]} in one batch; NaN values are skipped."""
        now = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, s) for k, v, s in series_points(series, steps)])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_table(self, run_id: str, frame: pd.DataFrame, artifact_file: str) -> None:
        """Save `frame` as a CSV artifact (no index) at `artifact_file`, e.g. 'tables/radii.csv'."""
        directory, filename = os.path.split(artifact_file)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / filename
            frame.to_csv(local, index=False)
            self.client.log_artifact(run_id, str(local), artifact_path=directory or None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_dict(self, run_id: str, data: dict, artifact_file: str) -> None:
        """YAML for .yaml/.yml files, JSON otherwise."""
        self.client.log_dict(run_id, data, artifact_file)

    def log_file(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    def log_dataset(self, run_id: str, *, name: str, digest: str, source: str, source_type: str, schema_json: str,
                    context: str = "training") -> None:
        """Record the run's dataset as an MLflow dataset input (the UI's Dataset column and lineage)."""
        dataset = Dataset(name=name, digest=digest, source_type=source_type, source=source, schema=schema_json)
        self.client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag(DATASET_CONTEXT, context)])])

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """A matplotlib or plotly figure, saved in the format its extension names."""
        self.client.log_figure(run_id, figure, artifact_file)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        if status == "FINISHED":  # a run `hardness runs --mark-stale-failed` ended by mistake is not stale after all
            self._clear_stale(run_id)
        self.client.set_terminated(run_id, status=status)

    def _clear_stale(self, run_id: str) -> None:
        try:
            self.client.delete_tag(run_id, schema.STALE)
        except MlflowException:  # not marked: the usual case
            pass

    def reopen_run(self, run_id: str) -> None:
        """Mark an earlier run RUNNING again (a resumed experiment continues in the same run), alive from now."""
        self.client.update_run(run_id, status="RUNNING")
        self._beat([run_id])

    @contextmanager
    def run(self, name: str, *, parent_run_id: str | None = None, params: dict | None = None,
            tags: dict | None = None, resume_run_id: str | None = None, worker: str | None = None) -> Iterator[str]:
        """Yield a run id (new, or `resume_run_id` reopened), beating while open; it ends FINISHED, FAILED on error,
        KILLED on Ctrl-C or a stop signal (a KeyboardInterrupt). With `worker` the run is shared by several processes
        (`join_shared_run`): it ends when the last of them leaves."""
        if worker is not None and resume_run_id is not None:
            self.join_shared_run(resume_run_id, worker)
        run_id = resume_run_id
        try:
            with deferred_signals():  # a stop signal while the run is created waits until it can be ended KILLED
                if resume_run_id is None:
                    shared = {} if worker is None else {_worker_tag(worker): "running"}
                    run_id = self.start_run(name, parent_run_id=parent_run_id, params=params,
                                            tags={**(tags or {}), **shared})
                else:
                    self.reopen_run(run_id)
        except KeyboardInterrupt:
            if run_id is not None:
                self.end_run(run_id, "KILLED")
            raise
        with self._ending(run_id, worker):
            yield run_id

    @contextmanager
    def _ending(self, run_id: str, worker: str | None = None) -> Iterator[None]:
        """Beat while the block runs, then end the run FINISHED, FAILED on error, KILLED on a KeyboardInterrupt (a
        shared run only when `worker` is the last to leave it)."""
        self.heartbeat.add(run_id)
        status = "FAILED"  # SystemExit too: never leave a run RUNNING
        try:
            yield
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.heartbeat.discard(run_id)
            with deferred_signals():  # a second stop signal must not leave the run RUNNING half way through ending it
                if worker is None or self.leave_shared_run(run_id, worker, status):
                    self._end_even_on_a_full_disk(run_id, status)

    def _end_even_on_a_full_disk(self, run_id: str, status: str) -> None:
        """End the run; when the disk is too full even for that, give up the store's reserve (keep_reserve) and retry."""
        try:
            self.end_run(run_id, status)
        except Exception as error:
            if self.db_path is None or full_disk_problem(error) is None:
                raise
            reserve_path(self.db_path).unlink(missing_ok=True)
            self.end_run(run_id, status)

    @contextmanager
    def owning(self, key: str) -> Iterator[None]:
        """Hold the resumable study `key` (its resume key) for this process while the block runs: a second process
        resuming it meanwhile is refused (exit 3) instead of training the same cells again.

        A local store takes an exclusive lock file per study beside it (the system frees it the moment a process dies,
        SIGKILL included); a server has no shared disk, so there the study's newest run must not be RUNNING with a
        fresh heartbeat (a process killed less than STALE_AFTER_S ago still counts as alive)."""
        if self.db_path is None or fcntl is None:
            self._refuse_live_owner(key)
            yield
            return
        folder = self.db_path.parent / f".{self.db_path.name}.owners"
        folder.mkdir(exist_ok=True)
        with open(folder / key, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EnvironmentProblem(_busy(self.find_run_by_tag(schema.RESUME_KEY, key))) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _refuse_live_owner(self, key: str) -> None:
        """Refuse when the newest run of study `key` is RUNNING and its heartbeat is fresh."""
        run_id = self.find_run_by_tag(schema.RESUME_KEY, key)
        if run_id is None:
            return
        run = self.client.get_run(run_id)
        if run.info.status == "RUNNING" and not is_stale(run.info.start_time, run.data.tags.get(schema.HEARTBEAT)):
            raise EnvironmentProblem(_busy(run_id))

    def join_shared_run(self, run_id: str, worker: str) -> None:
        """Register `worker` on a shared run; workers still marked running on a run nobody keeps alive (ended, or
        stale) died without leaving: they are marked lost so they cannot keep the run open for ever."""
        run = self.client.get_run(run_id)
        alive = run.info.status == "RUNNING" and not is_stale(run.info.start_time, run.data.tags.get(schema.HEARTBEAT))
        lost = [RunTag(key, "lost") for key, value in run.data.tags.items()
                if key.startswith(schema.WORKER_PREFIX) and value == "running" and not alive]
        self.client.log_batch(run_id, tags=[*lost, RunTag(_worker_tag(worker), "running")])

    def leave_shared_run(self, run_id: str, worker: str, status: str) -> bool:
        """Mark `worker` done with `status`; True when no other worker is still running (the caller ends the run).

        Each worker writes its own tag before it reads the others', so of two leaving at once at least one sees both
        done."""
        self.client.log_batch(run_id, tags=[RunTag(_worker_tag(worker), status.lower())])
        tags = self.client.get_run(run_id).data.tags
        return not any(key.startswith(schema.WORKER_PREFIX) and value == "running" for key, value in tags.items())


def reserve_path(db: Path) -> Path:
    return db.parent / f".{db.name}.reserve"


def keep_reserve(db: Path) -> None:
    """Keep RESERVE_BYTES of disk beside a local store, given up when the disk fills, so that the runs in progress can
    still be ended FAILED (without it SQLite cannot even write the journal of that last update)."""
    reserve = reserve_path(db)
    if reserve.is_file() and reserve.stat().st_size >= RESERVE_BYTES:
        return
    try:
        reserve.write_bytes(bytes(RESERVE_BYTES))
    except OSError:  # already too full: nothing to keep
        reserve.unlink(missing_ok=True)


def _param_values(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Params as MLflow stores them: text, cut to its length limit."""
    return [(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()]


def _check(stop: threading.Event | None) -> None:
    """Raise Abandoned when the writer was stopped: the run being written then ends KILLED."""
    if stop is not None and stop.is_set():
        raise Abandoned


def _busy(run_id: str | None) -> str:
    run = f"run {run_id}" if run_id else "its run is being created"
    return (f"another hardness process is running this study right now ({run}): wait for it to end, or stop it "
            f"first; resuming it twice at once would train the same cells twice")


def _worker_tag(worker: str) -> str:
    return f"{schema.WORKER_PREFIX}{worker}"


def tracking_tags() -> dict[str, str]:
    """Tags every run carries: version and commit of the installed package, MLflow's source and user tags."""
    commit = package_commit()
    tags = {schema.VERSION: __version__, schema.GIT_COMMIT: commit, schema.SOURCE_NAME: "hardness",
            schema.SOURCE_TYPE: "LOCAL", schema.USER: _user()}
    if commit != "unknown":
        tags[schema.SOURCE_GIT_COMMIT] = commit
    return tags


def package_commit() -> str:
    """The git commit the installed `hardness` comes from: its source checkout (an editable install), else the
    commit pip recorded for a VCS install (direct_url.json), else 'unknown'. Never the caller's working directory."""
    folder = Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        recorded = json.loads(importlib.metadata.distribution("hardness").read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return "unknown"
    return recorded.get("vcs_info", {}).get("commit_id", "unknown")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
