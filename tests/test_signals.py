"""Stop signals end runs KILLED: SIGTERM (docker stop, a scheduler), SIGHUP and Ctrl-C sent to a `python -m hardness`
process in training give exit 128 + the signal, one line on stderr, no traceback, and no run left RUNNING."""

import os
import signal

import pytest
from mlflow import MlflowClient

from hardness.interrupts import deferred_signals, exit_on_stop_signals, immediate_signals
from hardness.tracking.tracker import Tracker
from tests.processes import LONG_RUN, start, wait_for_run


def stop(process, signum):
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return stderr


def statuses(tracking_uri, experiment):
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {run.info.run_name: run.info.status for run in runs}


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), pytest.param(signal.SIGHUP, 129, marks=pytest.mark.slow),
                                          pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)])
def test_stop_signal_ends_the_run_killed_with_its_exit_code(tracking_uri, signum, code):
    process = start(tracking_uri, "stopped", *LONG_RUN)
    wait_for_run(process, tracking_uri, "stopped", "stragglers")
    stderr = stop(process, signum)
    assert process.returncode == code, stderr
    name = signal.Signals(signum).name
    assert stderr.count(f"error: interrupted by {name}") == 1 and stderr.strip().endswith("where they stopped)")
    assert "Traceback" not in stderr
    assert set(statuses(tracking_uri, "stopped").values()) == {"KILLED"}


@pytest.mark.slow
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


def test_a_stop_signal_inside_a_deferred_block_waits_for_its_end():
    done = []
    with pytest.raises(SystemExit) as stopped:
        with exit_on_stop_signals():
            with deferred_signals():  # SIGTERM: a shell starts background jobs with SIGINT ignored
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("rest of the block")
            done.append("after the block")
    assert done == ["rest of the block"] and stopped.value.code == 143


def test_a_stop_signal_while_a_run_is_created_ends_it_killed(tracking_uri, monkeypatch):
    tracker = Tracker(tracking_uri, "created")
    log_params = Tracker.log_params

    def interrupted_log_params(self, run_id, params):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives between create_run and the params
        log_params(self, run_id, params)

    monkeypatch.setattr(Tracker, "log_params", interrupted_log_params)
    with pytest.raises(SystemExit) as stopped:
        with exit_on_stop_signals():
            with tracker.run("half-created", params={"a": 1}):
                pytest.fail("the block must not start")
    assert stopped.value.code == 143
    assert statuses(tracking_uri, "created") == {"half-created": "KILLED"}
    (run,) = MlflowClient(tracking_uri).search_runs([tracker.experiment_id])
    assert run.data.params == {"a": "1"}


def test_immediate_signals_reopen_a_deferred_block_and_raise_what_it_held():
    done = []
    with pytest.raises(SystemExit) as stopped:
        with exit_on_stop_signals():
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("held")
                with immediate_signals():
                    done.append("never: the held signal is raised on entry")
    assert done == ["held"] and stopped.value.code == 143
