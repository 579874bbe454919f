"""Liveness: heartbeats on open runs, stale runs found by `hardness runs` and ended FAILED on request (a process killed
with SIGKILL cannot end its own runs), and runs shared by several workers ending when the last one leaves."""

import json
import signal
import time
from contextlib import ExitStack

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.studies.runs.status import build_run_table, format_age, select_shown
from hardness.tracking.heartbeat import Heartbeat, is_stale, last_seen_ms
from hardness.tracking.tracker import Tracker
from tests.processes import LONG_RUN, start, wait_for_run

runner = CliRunner()
NOW = 1_000_000_000_000


def _runs(*rows):
    """Runs as Tracker.find_runs gives them: (id, status, started seconds ago, heartbeat seconds ago or None)."""
    return pd.DataFrame([{
        "run_id": run_id, "status": status, "start_time": pd.Timestamp(NOW - started * 1000, unit="ms", tz="UTC"),
        "tags.hardness.heartbeat": None if beat is None else str(NOW - beat * 1000),
        "tags.mlflow.runName": run_id, "tags.hardness.kind": "stragglers"} for run_id, status, started, beat in rows])


def test_a_running_run_not_seen_for_longer_than_the_limit_is_stale():
    table = build_run_table(_runs(("killed", "RUNNING", 4000, 3000), ("alive", "RUNNING", 4000, 10),
                                  ("new", "RUNNING", 50, None), ("never-beat", "RUNNING", 900, None),
                                  ("done", "FINISHED", 9000, 8000)), now_ms=NOW, stale_after_s=300)
    assert table["run_id"].tolist() == ["new", "never-beat", "killed", "alive", "done"]  # newest first
    assert table.set_index("run_id")["stale"].to_dict() == {"new": False, "never-beat": True, "killed": True,
                                                            "alive": False, "done": False}
    assert table.set_index("run_id").loc["killed", "seen_s"] == pytest.approx(3000)
    assert select_shown(table, 1)["run_id"].tolist() == ["new", "never-beat", "killed"]  # stale ones always shown


def test_last_seen_and_ages():
    assert last_seen_ms(5_000, "7000") == 7_000 and last_seen_ms(5_000, None) == 5_000
    assert is_stale(0, str(NOW - 301_000), now_ms=NOW) and not is_stale(0, str(NOW - 299_000), now_ms=NOW)
    assert [format_age(s) for s in (42, 425, 3 * 3600 + 12 * 60 + 9, 2 * 86400 + 4 * 3600)] == \
        ["42s", "7m 05s", "3h 12m", "2d 04h"]


def test_heartbeat_beats_open_runs_and_stops_when_none_are_left():
    beats = []
    heartbeat = Heartbeat(beats.append, interval=0.02)
    heartbeat.add("a")
    heartbeat.add("b")
    time.sleep(0.15)
    heartbeat.discard("a")
    heartbeat.discard("b")
    time.sleep(0.1)
    assert ["a", "b"] in beats and heartbeat._thread is None
    count = len(beats)
    time.sleep(0.06)
    assert len(beats) == count


def test_open_runs_carry_a_fresh_heartbeat_tag(tracking_uri):
    tracker = Tracker(tracking_uri, "beats")
    tracker.heartbeat.interval = 0.05
    with tracker.run("alive") as run_id:
        time.sleep(0.4)
        beat = int(tracker.client.get_run(run_id).data.tags["hardness.heartbeat"])
        assert time.time() * 1000 - beat < 2000


def test_a_shared_run_ends_when_its_last_worker_leaves(tracking_uri):
    tracker = Tracker(tracking_uri, "shared")
    status = lambda run_id: tracker.client.get_run(run_id).info.status  # noqa: E731
    with ExitStack() as first:
        run_id = first.enter_context(tracker.run("parent", worker="a"))
        with tracker.run("parent", resume_run_id=run_id, worker="b"):
            pass
        assert status(run_id) == "RUNNING"  # "b" left first: "a" still works in it
    assert status(run_id) == "FINISHED"
    # a worker that died without leaving ("c") cannot keep an ended run open for ever
    tracker.set_tags(run_id, {"hardness.worker.c": "running"})
    with tracker.run("parent", resume_run_id=run_id, worker="d"):
        assert tracker.client.get_run(run_id).data.tags["hardness.worker.c"] == "lost"
    assert status(run_id) == "FINISHED"


@pytest.mark.slow
def test_runs_after_sigkill_shows_the_stale_run_and_marks_it_failed(tracking_uri, monkeypatch):
    monkeypatch.setenv("HARDNESS_HEARTBEAT_S", "0.3")  # beats every 0.3 s, so --stale-after 1 allows 3 missed beats
    process = start(tracking_uri, "killed", *LONG_RUN)
    run_id = wait_for_run(process, tracking_uri, "killed", "stragglers")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    base = ["runs", "--tracking-uri", tracking_uri, "--experiment", "killed", "--json"]
    fresh = json.loads(runner.invoke(app, base).stdout)  # just killed: not stale yet under the default 300 s
    assert fresh["stale"] == [] and fresh["runs"][0]["status"] == "RUNNING"
    time.sleep(1.2)
    listed = runner.invoke(app, [*base, "--stale-after", "1"])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["stale"] == [run_id]
    table = runner.invoke(app, ["runs", "--tracking-uri", tracking_uri, "--experiment", "killed", "--stale-after", "1"])
    assert "RUNNING (stale)" in table.stdout and "--mark-stale-failed" in table.stdout
    marked = json.loads(runner.invoke(app, [*base, "--stale-after", "1", "--mark-stale-failed"]).stdout)
    assert marked["marked_failed"] == [run_id] and marked["stale"] == []
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["hardness.stale"] == "true"
    assert json.loads(runner.invoke(app, [*base, "--stale-after", "1"]).stdout)["stale"] == []


def test_runs_of_a_missing_store_or_experiment_is_one_line_exit_2(tmp_path, tracking_uri):
    missing = runner.invoke(app, ["runs", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2 and "no MLflow store" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    unknown = runner.invoke(app, ["runs", "--tracking-uri", tracking_uri, "--experiment", "nope"])
    assert unknown.exit_code == 2 and "not found" in unknown.stderr
