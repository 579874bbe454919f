"""Executors: local units in order; a local Dask cluster of 2 single-threaded workers runs a digits benchmark with the
same gaps as one process, trains every cell once, and a rerun after a lost cell trains only that cell."""

import importlib.util
import json
import os

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import ExecutorConfig, load_config
from hardness.errors import UserError
from hardness.studies.common.executors import LocalExecutor, open_executor, parallel_fits

runner = CliRunner()
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="Dask is not installed: pip install -e '.[dask]'")
TINY = ["--subset-size", "300", "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]
BENCHMARK = ["benchmark", "--identifiers", "stragglers,confidence", *TINY, "--hard-sets", "2", "--inits", "2",
             "--set", "imbalance.train_ratios=[0.7]", "--set", "imbalance.remaining=[0,0.5,1]",
             "--set", "benchmark.error_models=2", "--threads", "1"]
CELLS = 2 * 3  # hard sets x remaining fractions, per identifier


def _square(unit, *, progress=None, offset):
    if progress is not None:
        progress(1, 2, "half")
        progress(2, 2)
    return unit * unit + offset, os.getpid(), __import__("torch").get_num_threads()


def test_local_executor_keeps_order_and_draws_units_as_shares_of_one_bar():
    seen = []
    pairs = list(LocalExecutor().map(_square, [1, 2, 3], {"offset": 10}, progress=lambda *a: seen.append(a),
                                     label="ensemble"))
    assert [(unit, result[0]) for unit, result in pairs] == [(1, 11), (2, 14), (3, 19)]
    assert seen[:2] == [(1, 6, "ensemble 1/3: half"), (2, 6, "ensemble 1/3")] and seen[-1] == (6, 6, "ensemble 3/3")


def test_executor_options_need_dask_and_exclude_each_other():
    with pytest.raises(UserError, match="executor.kind dask"):
        load_config(None, ["executor.workers=2"])
    with pytest.raises(UserError, match="one of --scheduler and --workers"):
        load_config(None, ["executor.kind=dask", "executor.workers=2", "executor.scheduler=tcp://127.0.0.1:8786"])
    assert parallel_fits(ExecutorConfig(kind="dask", workers=3)) == 3
    assert parallel_fits(ExecutorConfig(kind="dask", scheduler="tcp://127.0.0.1:8786")) == 1


@needs_dask
def test_an_unreachable_scheduler_is_exit_3_before_any_run(tracking_uri):
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before they are overridden)

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = runner.invoke(app, ["imbalance", "--tracking-uri", tracking_uri, *TINY, "--executor", "dask",
                                     "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 3 and "Dask scheduler tcp://127.0.0.1:9" in result.stderr
    client = MlflowClient(tracking_uri)
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])


@needs_dask
@pytest.mark.slow
def test_dask_workers_are_single_threaded_processes():
    with open_executor(ExecutorConfig(kind="dask", workers=2)) as executor:
        results = dict(executor.map(_square, list(range(6)), {"offset": 1}))
    assert {unit: value for unit, (value, _, _) in results.items()} == {u: u * u + 1 for u in range(6)}
    assert {threads for _, _, threads in results.values()} == {1}
    assert os.getpid() not in {pid for _, pid, _ in results.values()}


def _benchmark(uri, *extra):
    result = runner.invoke(app, [*BENCHMARK, "--tracking-uri", uri, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["parent_run_id"]


def _gaps(uri, parent):
    client = MlflowClient(uri)
    path = client.download_artifacts(parent, "gaps.csv")
    return pd.read_csv(path).sort_values(["identifier", "hard_set", "train_ratio", "remaining"]).reset_index(drop=True)


def _cell_runs(uri):
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, "tags.`hardness.cell` != ''")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The tiny benchmark run once in one process and once on a local Dask cluster of 2 workers."""
    root = tmp_path_factory.mktemp("executors")
    local, dask = (f"sqlite:///{root / name / 'mlflow.db'}" for name in ("local", "dask"))
    return (local, _benchmark(local)), (dask, _benchmark(dask, "--executor", "dask", "--workers", "2"))


@needs_dask
@pytest.mark.slow
def test_a_dask_benchmark_equals_the_single_process_one_and_trains_each_cell_once(stores):
    (local, local_parent), (dask, dask_parent) = stores
    pd.testing.assert_frame_equal(_gaps(local, local_parent), _gaps(dask, dask_parent), check_exact=True)
    cells = _cell_runs(dask)
    keys = [(run.data.tags["mlflow.parentRunId"], run.data.tags["hardness.cell"]) for run in cells]
    assert len(keys) == len(set(keys)) == 2 * CELLS
    assert {run.info.status for run in cells} == {"FINISHED"}


@needs_dask
@pytest.mark.slow
def test_a_rerun_after_a_lost_cell_trains_that_cell_only(stores):
    _, (dask, parent) = stores
    before, earlier = _gaps(dask, parent), _cell_runs(dask)
    lost = earlier[0]
    MlflowClient(dask).set_terminated(lost.info.run_id, "FAILED")  # as if its worker died before it was logged
    assert _benchmark(dask, "--executor", "dask", "--workers", "2") == parent
    new = [run for run in _cell_runs(dask) if run.info.run_id not in {r.info.run_id for r in earlier}]
    assert [(run.data.tags["hardness.cell"], run.data.tags["mlflow.parentRunId"], run.info.status) for run in new] == \
        [(lost.data.tags["hardness.cell"], lost.data.tags["mlflow.parentRunId"], "FINISHED")]
    pd.testing.assert_frame_equal(before, _gaps(dask, parent), check_exact=True)


@needs_dask
@pytest.mark.slow
def test_a_dask_detection_benchmark_equals_the_single_process_one(tmp_path):
    detect = ["detect", "--identifiers", "stragglers,confidence", "--types", "uniform,asymmetric", "--rates", "0.2",
              "--seeds", "2", *TINY, "--threads", "1", "--json"]
    tables = []
    for name, extra in (("local", []), ("dask", ["--executor", "dask", "--workers", "2"])):
        result = runner.invoke(app, [*detect, "--tracking-uri", f"sqlite:///{tmp_path / name / 'mlflow.db'}", *extra])
        assert result.exit_code == 0, result.output
        tables.append(pd.DataFrame(json.loads(result.stdout)["detection"]))
    pd.testing.assert_frame_equal(*tables, check_exact=True)
