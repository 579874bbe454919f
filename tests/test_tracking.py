"""Tracker against a real MLflow SQLite store in tmp_path."""

import http.server
import math
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from hardness import __version__
from hardness.errors import HardnessError
from hardness.tracking.tracker import Tracker, check_reachable, package_commit, resolve_tracking_uri, tracking_tags


def _db(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


@pytest.fixture
def tracker(tracking_uri):
    return Tracker(tracking_uri, "test")


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- resolving and checking the store -------------------------------------------------------------

def test_explicit_uri_beats_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    assert resolve_tracking_uri("sqlite:////here/mlflow.db") == "sqlite:////here/mlflow.db"
    assert resolve_tracking_uri(None) == "sqlite:////elsewhere/mlflow.db"


def test_default_is_sqlite_in_local_mlruns(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert not (tmp_path / "mlruns").exists()  # resolving creates nothing; opening a Tracker creates the store


@pytest.mark.parametrize("uri", ["file:./mlruns", "file:///tmp/mlruns", "mlruns", "/tmp/mlruns"])
def test_folder_store_refused(uri, monkeypatch):
    with pytest.raises(HardnessError, match="sqlite:///"):
        resolve_tracking_uri(uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(HardnessError, match="sqlite:///"):
        Tracker(None, "test")


def test_unreachable_server_fails_fast():
    uri = f"http://127.0.0.1:{_unused_port()}"
    start = time.monotonic()
    with pytest.raises(HardnessError, match=f"tracking server {uri} is unreachable"):
        Tracker(uri, "test")
    assert time.monotonic() - start < 3.5


def test_reachable_server_passes():
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
        server.server_close()
    check_reachable("sqlite:////nowhere/mlflow.db")


def test_environment_uri_is_used(monkeypatch, tracking_uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    tracker = Tracker(None, "from-env")
    assert tracker.uri == tracking_uri
    assert Tracker(tracking_uri, "from-env", must_exist=True).experiment_id == tracker.experiment_id


def test_must_exist_does_not_create_the_store(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    with pytest.raises(HardnessError, match="no MLflow store"):
        Tracker(f"sqlite:///{db}", "test", must_exist=True)
    assert not db.exists()


def test_must_exist_needs_the_experiment(tracking_uri):
    with pytest.raises(HardnessError, match="experiment 'absent' not found"):
        Tracker(tracking_uri, "absent", must_exist=True)
    created = Tracker(tracking_uri, "present")
    assert Tracker(tracking_uri, "present", must_exist=True).experiment_id == created.experiment_id


def test_deleted_experiment_is_an_error(tracker):
    tracker.client.delete_experiment(tracker.experiment_id)
    with pytest.raises(HardnessError, match="deleted"):
        Tracker(tracker.uri, "test")


# --- runs, params, metrics ------------------------------------------------------------------------

def test_params_and_tags_round_trip(tracker):
    run_id = tracker.start_run("parent", params={"lr": 0.1, "name": None, "long": "x" * 7000}, tags={"k": 3})
    run = tracker.client.get_run(run_id)
    assert run.data.params["lr"] == "0.1"
    assert run.data.params["name"] == "None"
    assert run.data.params["long"] == "x" * 6000
    assert run.data.tags["k"] == "3"
    assert run.data.tags["mlflow.runName"] == "parent" == run.info.run_name
    assert "mlflow.parentRunId" not in run.data.tags
    assert run.info.status == "RUNNING"
    child = tracker.client.get_run(tracker.start_run("child", parent_run_id=run_id))
    assert child.data.tags["mlflow.parentRunId"] == run_id
    assert child.info.experiment_id == tracker.experiment_id


def test_children_from_threads_keep_their_parent(tracker):
    with tracker.run("parent") as parent:
        def child(k):
            with tracker.run(f"seed-{k}", parent_run_id=parent, params={"k": k}) as run_id:
                tracker.log_metrics(run_id, {"k": k})
            return run_id

        with ThreadPoolExecutor(4) as pool:
            children = list(pool.map(child, range(4)))
    for k, run_id in enumerate(children):
        run = tracker.client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.metrics["k"] == k
        assert run.info.status == "FINISHED"


def test_metrics_round_trip_with_step(tracker):
    run_id = tracker.start_run("r")
    tracker.log_metrics(run_id, {"acc": 0.25, "loss": 3})
    tracker.log_metrics(run_id, {"acc": 0.75}, step=7)
    history = tracker.client.get_metric_history(run_id, "acc")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.25), (7, 0.75)]
    assert tracker.client.get_run(run_id).data.metrics == {"acc": 0.75, "loss": 3.0}


def test_series_round_trip_in_one_batch(tracker, monkeypatch):
    run_id = tracker.start_run("r")
    steps = list(range(0, 1000, 2))
    series = {f"radius/class_{c}": [c + i / 1000 for i in range(len(steps))] for c in range(10)}
    series["radius/class_0"][3] = float("nan")
    calls = []
    log_batch = tracker.client.log_batch
    monkeypatch.setattr(tracker.client, "log_batch", lambda *a, **kw: calls.append(1) or log_batch(*a, **kw))
    tracker.log_series(run_id, series, steps)
    assert len(calls) == 1
    for key, values in series.items():
        history = sorted((m.step, m.value) for m in tracker.client.get_metric_history(run_id, key))
        assert history == [(s, v) for s, v in zip(steps, values) if not math.isnan(v)]
    assert len(tracker.client.get_metric_history(run_id, "radius/class_0")) == len(steps) - 1


def test_series_length_mismatch_is_an_error(tracker):
    with pytest.raises(ValueError, match="3 values for 2 steps"):
        tracker.log_series(tracker.start_run("r"), {"m": [1.0, 2.0, 3.0]}, [0, 1])


def test_set_tags_and_end_run(tracker):
    run_id = tracker.start_run("r")
    tracker.set_tags(run_id, {"pruned": True})
    tracker.end_run(run_id, "KILLED")
    run = tracker.client.get_run(run_id)
    assert run.data.tags["pruned"] == "True"
    assert run.info.status == "KILLED"
    with pytest.raises(ValueError, match="FINISHED"):
        tracker.end_run(run_id, "DONE")


def test_run_context_sets_the_final_status(tracker):
    with tracker.run("ok") as ok:
        assert tracker.client.get_run(ok).info.status == "RUNNING"
    with pytest.raises(RuntimeError), tracker.run("boom") as failed:
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), tracker.run("ctrl-c") as killed:
        raise KeyboardInterrupt
    statuses = {run_id: tracker.client.get_run(run_id).info.status for run_id in (ok, failed, killed)}
    assert statuses == {ok: "FINISHED", failed: "FAILED", killed: "KILLED"}
    assert all(tracker.client.get_run(r).info.end_time is not None for r in statuses)


# --- artifacts ------------------------------------------------------------------------------------

def test_artifacts_sit_beside_the_db(tracker):
    mlruns = _db(tracker.uri).parent
    location = tracker.client.get_experiment(tracker.experiment_id).artifact_location
    assert location.removeprefix("file://") == str(mlruns / "artifacts" / "test")
    frame = pd.DataFrame({"index": [4, 1, 9], "label": [0, 1, 1], "score": [0.5, -1.25, 3.0],
                          "name": ["a", "b", "c"]})
    with tracker.run("r") as run_id:
        tracker.log_table(run_id, frame, "tables/hard.csv")
        tracker.log_table(run_id, frame, "top.csv")
    stored = mlruns / "artifacts" / "test" / run_id / "artifacts"
    assert (stored / "tables" / "hard.csv").is_file()
    assert (stored / "top.csv").is_file()
    pd.testing.assert_frame_equal(tracker.load_table(run_id, "tables/hard.csv"), frame)
    pd.testing.assert_frame_equal(tracker.load_table(run_id, "top.csv"), frame)


def test_missing_table_is_an_error(tracker):
    with pytest.raises(HardnessError, match="no artifact 'absent.csv'"):
        tracker.load_table(tracker.start_run("r"), "absent.csv")


def test_text_dict_file_and_figure_artifacts(tracker, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source = tmp_path / "source.yaml"
    source.write_text("seed: 3\n")
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    with tracker.run("r") as run_id:
        tracker.log_text(run_id, "seed: 1\n", "config.yaml")
        tracker.log_dict(run_id, {"a": [1, 2]}, "dicts/d.json")
        tracker.log_dict(run_id, {"a": [1, 2]}, "dicts/d.yaml")
        tracker.log_file(run_id, source, "config_source")
        tracker.log_figure(run_id, figure, "figures/curve.png")
    plt.close(figure)
    stored = _db(tracker.uri).parent / "artifacts" / "test" / run_id / "artifacts"
    assert (stored / "config.yaml").read_text() == "seed: 1\n"
    assert (stored / "dicts" / "d.json").read_text().replace(" ", "").replace("\n", "") == '{"a":[1,2]}'
    assert "a:\n" in (stored / "dicts" / "d.yaml").read_text()
    assert (stored / "config_source" / "source.yaml").read_text() == "seed: 3\n"
    assert (stored / "figures" / "curve.png").read_bytes()[:4] == b"\x89PNG"


# --- searching ------------------------------------------------------------------------------------

def test_find_runs(tracker, tracking_uri):
    with tracker.run("a", params={"lr": 0.1}) as first:
        tracker.log_metrics(first, {"acc/hard": 0.9})
    with tracker.run("b", params={"lr": 0.2}) as second:
        tracker.log_metrics(second, {"acc/hard": 0.4})
    other = Tracker(tracking_uri, "other")
    other.end_run(other.start_run("c"))
    runs = tracker.find_runs()
    assert set(runs["run_id"]) == {first, second}
    assert {"run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"} <= set(runs)
    good = tracker.find_runs("metrics.`acc/hard` > 0.5")
    assert list(good["run_id"]) == [first]
    assert good["params.lr"].tolist() == ["0.1"]
    assert list(tracker.find_runs("params.lr = '0.2'", run_ids=[first, second])["run_id"]) == [second]
    assert len(tracker.find_runs(experiment_names=["test", "other"])) == 3
    empty = tracker.find_runs("params.lr = '9'")
    assert empty.empty and "run_id" in empty
    assert tracker.find_runs(run_ids=[]).empty
    with pytest.raises(HardnessError, match="experiment 'nope' not found"):
        tracker.find_runs(experiment_names=["nope"])


def test_finished_runs_by_tag_ignores_failed_runs(tracker):
    with tracker.run("grid") as parent:
        for cell in ("a", "b", "c"):
            run_id = tracker.start_run(cell, parent_run_id=parent, tags={"hardness.cell": cell})
            tracker.end_run(run_id, "FAILED" if cell == "b" else "FINISHED")
            if cell == "a":
                done_a = run_id
        running = tracker.start_run("d", parent_run_id=parent, tags={"hardness.cell": "d"})
    elsewhere = tracker.start_run("e", tags={"hardness.cell": "e"})
    tracker.end_run(elsewhere)
    by_parent = tracker.finished_runs_by_tag("hardness.cell", parent_run_id=parent)
    assert set(by_parent) == {"a", "c"} and by_parent["a"] == done_a
    assert running not in by_parent.values()
    assert set(tracker.finished_runs_by_tag("hardness.cell")) == {"a", "c", "e"}
    assert tracker.finished_runs_by_tag("absent.tag") == {}


# --- tags -----------------------------------------------------------------------------------------

def test_commit_tag_ignores_the_working_directorys_repository(monkeypatch, tmp_path):
    """The commit is the installed package's: a run started inside another git repository does not take its HEAD."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(tmp_path)
    tags = tracking_tags()
    assert tags["hardness.version"] == __version__
    assert tags["hardness.git_commit"] == package_commit() != head


def test_commit_of_an_installed_package_comes_from_pips_record(monkeypatch):
    """Without a source checkout (a wheel or VCS install), the commit pip recorded in direct_url.json is used."""
    import hardness.tracking.tracker as tracking

    class Installed:
        def read_text(self, name):
            return '{"url": "git+https://example.org/hardness", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}'

    monkeypatch.setattr(tracking.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 128, "", ""))
    monkeypatch.setattr(tracking.importlib.metadata, "distribution", lambda name: Installed())
    assert package_commit() == "abc123"
    assert tracking_tags()["mlflow.source.git.commit"] == "abc123"
