"""Stop signals end runs KILLED: SIGTERM (docker stop, a scheduler), SIGHUP and Ctrl-C sent to a `python -m hardness`
process in training give exit 128 + the signal, one line on stderr, no traceback, and no run left RUNNING."""

import signal

import pytest
from mlflow import MlflowClient

from tests.processes import LONG_RUN, start, wait_for_run


def stop(process, signum):
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return stderr


def statuses(tracking_uri, experiment):
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {run.info.run_name: run.info.status for run in runs}


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_stop_signal_ends_the_run_killed_with_its_exit_code(tracking_uri, signum, code):
    process = start(tracking_uri, "stopped", *LONG_RUN)
    wait_for_run(process, tracking_uri, "stopped", "stragglers")
    stderr = stop(process, signum)
    assert process.returncode == code, stderr
    name = signal.Signals(signum).name
    assert stderr.count(f"error: interrupted by {name}") == 1 and stderr.strip().endswith("where they stopped)")
    assert "Traceback" not in stderr
    assert set(statuses(tracking_uri, "stopped").values()) == {"KILLED"}


def test_sigterm_during_a_benchmark_ends_parent_and_child_killed_and_keeps_finished_work(tracking_uri):
    grid = ["--set", "imbalance.train_ratios=[0.7]", "--set", "imbalance.remaining=[0.5,1.0]",
            "--set", "imbalance.models_per_batch=2", "--set", "benchmark.identifiers=[stragglers,energy]"]
    process = start(tracking_uri, "bench", "benchmark", "--subset-size", "200", "--epochs", "3000", "--hard-sets", "1",
                    "--inits", "2", "--set", "inversion.warmup=5", *grid)
    wait_for_run(process, tracking_uri, "bench", "grid-energy")  # a child of the benchmark run, training its cells
    stderr = stop(process, signal.SIGTERM)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    found = statuses(tracking_uri, "bench")
    assert found["benchmark-digits"] == "KILLED" and found["grid-energy"] == "KILLED"
    assert "RUNNING" not in found.values()
    assert found["grid-stragglers"] == "FINISHED"  # done before the signal: kept, a rerun skips its cells
