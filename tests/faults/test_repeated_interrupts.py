"""Guarantees on interrupts: Ctrl-C pressed again and again while a run trains still gives one line and exit 130, no
traceback, and every run ended KILLED."""

import signal
import time

import pytest

from tests.faults.guarantees import assert_nothing_running, runs_of
from tests.processes import LONG_RUN, start, wait_for_run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("gap", [0.0, 0.05, 0.3])
def test_ctrl_c_pressed_four_times_is_one_line(tracking_uri, gap):
    process = start(tracking_uri, "ctrl-c", *LONG_RUN)
    wait_for_run(process, tracking_uri, "ctrl-c", "stragglers")
    for _ in range(4):
        process.send_signal(signal.SIGINT)
        time.sleep(gap)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted by SIGINT")
    assert_nothing_running(tracking_uri)
    assert "KILLED" in {run.info.status for run in runs_of(tracking_uri)}
