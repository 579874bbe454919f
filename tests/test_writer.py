"""Child runs written from background threads (Tracker.child_writer) against a real MLflow SQLite store: the same
store contents as one by one, errors raised in the caller, the parent ended last, KILLED on interrupt."""

import math
import threading
from concurrent.futures import CancelledError

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from hardness.tracking import schema
from hardness.tracking.payloads import RunPayload
from hardness.tracking.tracker import Tracker
from hardness.tracking.writer import Abandoned, RunWriter


@pytest.fixture
def tracker(tracking_uri):
    return Tracker(tracking_uri, "writer")


def _payload(k: int) -> RunPayload:
    """A child shaped like a straggler seed, small: 120 params (two batches), curves with a NaN, scalars, two tables."""
    steps = list(range(0, 300, 3))
    series = {f"radius/class_{c}": [k + c + s / 1000 for s in steps] for c in range(10)}
    series["radius/class_0"][4] = math.nan
    return RunPayload(
        f"seed-{k}", params={f"group.key_{i}": i * k for i in range(120)}, tags={"hardness.group": "g", "k": str(k)},
        series=series, steps=steps, metrics={"stragglers/count": 10.0 + k, "acc": 0.5},
        tables={"tables/hard.csv": pd.DataFrame({"index": [k, 2 * k], "label": [0, 1]}),
                "top.csv": pd.DataFrame({"epoch": steps[:3], "class_0": [0.5, 0.25, 0.125]})})


def _contents(tracker: Tracker, parent: str) -> dict:
    """Every child of `parent` by name: status, params, tags (but the parent id and heartbeats), metric histories and
    tables."""
    found = {}
    for run in tracker.client.search_runs([tracker.experiment_id], f"tags.`{schema.PARENT_RUN_ID}` = '{parent}'"):
        run_id = run.info.run_id
        tags = {k: v for k, v in run.data.tags.items() if k not in (schema.PARENT_RUN_ID, schema.HEARTBEAT)}
        histories = {key: sorted((m.step, m.value) for m in tracker.client.get_metric_history(run_id, key))
                     for key in run.data.metrics}
        tables = {path: tracker.load_table(run_id, path).to_dict("list") for path in ("tables/hard.csv", "top.csv")}
        found[run.info.run_name] = (run.info.status, run.data.params, tags, histories, run.data.metrics, tables)
    return found


def test_concurrent_children_store_what_sequential_ones_do(tracker):
    payloads = [_payload(k) for k in range(5)]
    with tracker.run("sequential") as sequential:
        for payload in payloads:
            tracker.write_run(payload, parent_run_id=sequential)
    with tracker.run("concurrent") as concurrent, tracker.child_writer(concurrent, workers=3) as writer:
        futures = [writer.submit(payload) for payload in payloads]
    assert [f.result() for f in futures] == [tracker.find_run_by_tag("k", str(k)) for k in range(5)]
    written = _contents(tracker, concurrent)
    assert written == _contents(tracker, sequential)
    status, params, tags, histories, latest, tables = written["seed-3"]
    assert status == "FINISHED" and len(params) == 120 and params["group.key_7"] == "21"
    assert tags["k"] == "3" and tags[schema.RUN_NAME] == "seed-3"
    assert len(histories["radius/class_0"]) == 99 and len(histories["radius/class_1"]) == 100
    assert histories["radius/class_2"][:2] == [(0, 5.0), (3, 5.003)]
    assert latest["radius/class_1"] == pytest.approx(4 + 297 / 1000)  # the value at the last step
    assert latest["stragglers/count"] == 13.0
    assert tables["tables/hard.csv"] == {"index": [3, 6], "label": [0, 1]}


def test_the_old_per_call_path_stores_the_same_child(tracker):
    """write_run keeps what the per-call methods (start_run, log_series, log_metrics, log_table) store."""
    payload = _payload(2)
    with tracker.run("parent") as parent:
        tracker.write_run(payload, parent_run_id=parent)
    with tracker.run("old") as old:
        with tracker.run(payload.name, parent_run_id=old, params=payload.params, tags=payload.tags) as child:
            tracker.log_series(child, payload.series, payload.steps)
            tracker.log_metrics(child, payload.metrics)
            for path, frame in payload.tables.items():
                tracker.log_table(child, frame, path)
    assert _contents(tracker, parent) == _contents(tracker, old)


def test_a_failing_child_fails_the_parent_with_its_error_and_keeps_what_landed(tracker):
    bad = RunPayload("seed-bad", params={"lr": 0.1}, series={"loss": [float(s) for s in range(999)]},
                     steps=range(999), metrics={"../escape": 1.0})  # the store refuses the name, in the second batch
    with pytest.raises(MlflowException) as raised, tracker.run("parent") as parent:
        with tracker.child_writer(parent, workers=2) as writer:
            writer.submit(_payload(0))
            failed = writer.submit(bad)
            failed.exception()
            with pytest.raises(MlflowException):
                writer.submit(_payload(1))  # the first error is raised by the next call
    assert "while writing run 'seed-bad'" in raised.value.__notes__
    runs = {run.info.run_name: run for run in tracker.client.search_runs([tracker.experiment_id])}
    assert runs["parent"].info.status == "FAILED"
    assert runs["seed-bad"].info.status == "FAILED" and "seed-1" not in runs
    assert runs["seed-bad"].data.params == {"lr": "0.1"}
    assert len(tracker.client.get_metric_history(runs["seed-bad"].info.run_id, "loss")) == 999
    assert runs["seed-0"].info.status in ("FINISHED", "KILLED")  # written alongside: done, or stopped by the error


def test_the_parent_ends_after_every_child_landed(tracker):
    with tracker.run("parent") as parent, tracker.child_writer(parent) as writer:
        for k in range(3):
            writer.submit(_payload(k))
    runs = {run.info.run_name: run.info for run in tracker.client.search_runs([tracker.experiment_id])}
    assert {info.status for info in runs.values()} == {"FINISHED"}
    assert all(runs[f"seed-{k}"].end_time <= runs["parent"].end_time for k in range(3))


def test_a_failure_after_submitting_keeps_the_children(tracker):
    """An error in the study after it submitted its children (e.g. every model diverged) fails the parent only."""
    with pytest.raises(ZeroDivisionError), tracker.run("parent") as parent:
        with tracker.child_writer(parent, workers=2) as writer:
            for k in range(3):
                writer.submit(_payload(k))
            raise ZeroDivisionError
    statuses = {run.info.run_name: run.info.status for run in tracker.client.search_runs([tracker.experiment_id])}
    assert statuses == {"parent": "FAILED", "seed-0": "FINISHED", "seed-1": "FINISHED", "seed-2": "FINISHED"}


def test_interrupt_ends_the_child_in_progress_killed_and_starts_no_other(tracker, monkeypatch):
    started, proceed = threading.Event(), threading.Event()
    log_batch = tracker.client.log_batch

    def held(*args, **kwargs):  # the first batch of the first child waits until the interrupt has been raised
        started.set()
        proceed.wait(10)
        return log_batch(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", held)
    with pytest.raises(KeyboardInterrupt), tracker.run("parent") as parent:
        with tracker.child_writer(parent, workers=1) as writer:
            in_progress, queued = writer.submit(_payload(0)), writer.submit(_payload(1))
            started.wait(10)
            threading.Timer(0.2, proceed.set).start()
            raise KeyboardInterrupt
    assert isinstance(in_progress.exception(), Abandoned)
    with pytest.raises(CancelledError):
        queued.result()
    statuses = {run.info.run_name: run.info.status for run in tracker.client.search_runs([tracker.experiment_id])}
    assert statuses == {"parent": "KILLED", "seed-0": "KILLED"}


def test_abandon_gives_up_on_a_stuck_write():
    """A store that never answers cannot hold the process: abandon returns after its wait, the threads are daemons."""
    stuck, release = threading.Event(), threading.Event()

    def write(payload, stop):
        stuck.set()
        release.wait()
        return "never"

    writer = RunWriter(write, workers=1)
    writer.submit(RunPayload("r"))
    stuck.wait(10)
    writer.abandon(wait_s=0.1)
    assert all(thread.daemon for thread in writer._threads)
    release.set()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(RunPayload("s"))


def test_a_writer_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        RunWriter(lambda payload, stop: "", workers=0)
