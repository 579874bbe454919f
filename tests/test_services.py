"""The shared services for real (slow): a PostgreSQL cluster and an MLflow server on it with proxied artifacts, on
127.0.0.1, as compose.yaml runs them. The commands log to the server, everything is read back over http only,
two search workers share one Optuna study in PostgreSQL, and `hardness report` builds its figures from the server.

Run: python -m pytest -m slow tests/test_services.py  (needs Debian's `postgresql` package and `.[postgres]`)
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.services import PASSWORD, mlflow_server, optuna_dashboard, postgres, postgres_bin

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL binaries (initdb, pg_ctl) not found: "
                                                      "apt-get install postgresql"),
    pytest.mark.skipif(importlib.util.find_spec("psycopg") is None,
                       reason="psycopg is not installed: pip install -e '.[postgres]'"),
    pytest.mark.skipif(os.name == "posix" and os.geteuid() == 0 and shutil.which("runuser") is None,
                       reason="PostgreSQL refuses root and runuser is missing to start it as another user"),
]
TINY = ["--subset-size", "300", "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]
GRID = ["--hard-sets", "2", "--inits", "2", "--set", "imbalance.train_ratios=[0.7]",
        "--set", "imbalance.remaining=[0,1]", "--set", "benchmark.error_models=2"]


def hardness(*args, cwd):
    """`python -m hardness ARGS --json` in `cwd`, one torch thread; its JSON output."""
    result = subprocess.run([sys.executable, "-m", "hardness", *args, "--json"], cwd=cwd, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """(PostgreSQL, the MLflow server's URL, the server's artifact folder)."""
    artifacts = tmp_path_factory.mktemp("served-artifacts")
    with postgres(("mlflow", "optuna")) as database, mlflow_server(database.url("mlflow"), artifacts) as server:
        yield database, server, artifacts


@pytest.fixture(scope="module")
def logged(services, tmp_path_factory):
    """A `hardness run` and a `hardness benchmark` logged to the server from an empty folder: (run, benchmark,
    folder)."""
    _, server, _ = services
    folder = tmp_path_factory.mktemp("client")
    run = hardness("run", "--seeds", "2", *TINY, "--tracking-uri", server, "--experiment", "svc-run", cwd=folder)
    benchmark = hardness("benchmark", "--identifiers", "stragglers,confidence", *TINY, *GRID, "--tracking-uri", server,
                         "--experiment", "svc-benchmark", cwd=folder)
    return run, benchmark, folder


def test_runs_and_artifacts_live_on_the_server_and_read_back_over_http(services, logged, tmp_path):
    _, server, artifacts = services
    run, benchmark, folder = logged
    assert not any(folder.iterdir()), "the commands wrote local files (a store?) beside themselves"
    client = MlflowClient(server)
    for parent in (run["parent_run_id"], benchmark["parent_run_id"]):
        info = client.get_run(parent).info
        assert info.status == "FINISHED" and info.artifact_uri.startswith("mlflow-artifacts:")
    children = client.search_runs([client.get_experiment_by_name("svc-run").experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{run['parent_run_id']}'")
    assert sorted(child.info.run_id for child in children) == sorted(run["child_run_ids"])
    config = client.download_artifacts(run["parent_run_id"], "config.yaml", str(tmp_path))
    assert "seeds: 2" in open(config).read()
    stragglers = pd.read_csv(client.download_artifacts(children[0].info.run_id, "stragglers.csv", str(tmp_path)))
    assert "original_index" in stragglers.columns
    gaps = pd.read_csv(client.download_artifacts(benchmark["parent_run_id"], "gaps.csv", str(tmp_path)))
    assert set(gaps["identifier"]) == {"stragglers", "confidence"}
    assert any(path.name == "gaps.csv" for path in artifacts.rglob("*")), "the server does not hold the artifacts"


def test_two_search_workers_share_one_study_in_postgres(services, tmp_path):
    database, server, _ = services
    storage = database.url("optuna")
    command = [sys.executable, "-m", "hardness", "search", "--identifier", "confidence", "--trials", "3",
               "--storage", storage, "--study-name", "shared", "--tracking-uri", server, "--experiment", "svc-search",
               *TINY, "--set", "imbalance.hard_sets=2", "--set", "imbalance.inits=2", "--json"]
    workers = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}) for _ in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    parents = {json.loads(stdout)["parent_run_id"] for stdout, _ in outputs}
    assert len(parents) == 1
    parent = parents.pop()
    study = optuna.load_study(study_name="shared", storage=storage)
    assert sorted(trial.number for trial in study.trials) == list(range(6))  # none lost, none twice
    assert all(trial.state.is_finished() for trial in study.trials)
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("svc-search").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in children) == list(range(6))
    assert {trial.user_attrs["mlflow_run_id"] for trial in study.trials} == {run.info.run_id for run in children}
    assert len(client.search_runs([experiment], "tags.`hardness.kind` = 'search'")) == 7  # one parent, six trials
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.tags["best.trial"] == str(study.best_trial.number)
    best = json.load(open(client.download_artifacts(parent, "best_trial.json", str(tmp_path))))
    assert best["number"] == study.best_trial.number
    logged = json.dumps({**run.data.tags, **run.data.params})
    assert PASSWORD not in logged and "***" in run.data.tags["optuna.storage"]


def test_report_builds_figures_from_the_server(services, logged, tmp_path):
    _, server, _ = services
    out = tmp_path / "reports"
    report = hardness("report", "--tracking-uri", server, "--experiment", "svc-run", "--experiment", "svc-benchmark",
                      "--out", str(out), cwd=tmp_path)
    assert list((out / "figures").glob("*.png")) and (out / "report.md").is_file()
    client = MlflowClient(server)
    info = client.get_run(report["report_run_id"]).info
    assert info.status == "FINISHED" and client.list_artifacts(info.run_id)


@pytest.mark.skipif(importlib.util.find_spec("optuna_dashboard") is None,
                    reason="optuna-dashboard is not installed: pip install -e '.[dashboard]'")
def test_optuna_dashboard_serves_the_postgres_studies(services):
    import urllib.request

    database, _, _ = services
    optuna.create_study(study_name="dashboard-check", storage=database.url("optuna"))
    with optuna_dashboard(database.url("optuna")) as dashboard:
        studies = json.load(urllib.request.urlopen(f"{dashboard}/api/studies", timeout=10))
    assert "dashboard-check" in {study["study_name"] for study in studies["study_summaries"]}
