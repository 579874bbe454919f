"""Helpers for tests that drive `python -m hardness` as a separate process (signals, SIGKILL, parallel workers)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

LONG_RUN = ["run", "--seeds", "2", "--epochs", "100000", "--subset-size", "300"]


def _default_stop_signals():
    """In the child: SIGINT, SIGQUIT and SIGHUP as a terminal's foreground process has them. A shell starts background
    jobs (a CI script run with `&`) with the first two ignored, `nohup` the third, and `hardness` keeps a signal it was
    started ignoring ignored."""
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def start(tracking_uri, experiment, *args):
    """`python -m hardness ARGS` writing to `experiment` of the store, one torch thread (the machine is shared), with
    the stop signals of a foreground process."""
    command = [sys.executable, "-m", "hardness", *args, "--tracking-uri", tracking_uri, "--experiment", experiment]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=_default_stop_signals)


def wait_for_run(process, tracking_uri, experiment, name_prefix, *, logged=True, timeout=180):
    """Poll the store until a RUNNING run whose name starts with `name_prefix` exists and, with `logged`, has logged its
    first artifact (the process is past its preamble: training); returns its id."""
    client = MlflowClient(tracking_uri)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the process ended early ({process.returncode}): {process.stderr.read()}")
        found = client.get_experiment_by_name(experiment)
        runs = [] if found is None else client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
        for run in runs:
            if run.info.run_name.startswith(name_prefix) and (not logged or client.list_artifacts(run.info.run_id)):
                return run.info.run_id
        time.sleep(0.3)
    process.kill()
    pytest.fail(f"no RUNNING {name_prefix} run within {timeout} s")
