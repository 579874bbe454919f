"""Guarantees on a full disk: whether the store, an artifact or an output file hits it, the command ends with one line
and exit 3, its runs end FAILED (never left RUNNING) and no output file is left half written. The disk fills through
a file-size limit (ulimit -f: any user, the store hits it) and, as root, through a small tmpfs (the store or the
output folder on it)."""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.guarantees import TINY, assert_no_partial_files, assert_nothing_running, runs_of

pytestmark = pytest.mark.slow


def hardness(*args, cwd, file_limit=None):
    """`python -m hardness ARGS` in `cwd`, its files capped at `file_limit` bytes when given."""
    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run([sys.executable, "-m", "hardness", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=cap if file_limit else None,
                          timeout=300)


def assert_full_disk_line(result):
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "[SQL:" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and ("no room left" in errors[0] or "disk is full" in errors[0]), result.stderr


@pytest.mark.parametrize("room", [8_000, 40_000, 120_000])
def test_run_past_a_file_size_limit_ends_failed(tracking_uri, tmp_path, room):
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    result = hardness("run", "--seeds", "2", "--tracking-uri", tracking_uri, *TINY, cwd=tmp_path,
                      file_limit=db.stat().st_size + room)
    assert_full_disk_line(result)
    assert_nothing_running(tracking_uri)
    assert {run.info.status for run in runs_of(tracking_uri)} <= {"FAILED", "FINISHED"}


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs at tmp_path/disk (root only), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]).returncode:
        pytest.skip("no tmpfs mounts here")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)])  # lazily: the test's own MLflow client may hold the store open


def fill(disk, leave):
    """Fill `disk` up to `leave` bytes free."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(bytes(max(0, free - leave)))


@pytest.mark.parametrize("leave", [40_000, 70_000, 100_000])
def test_run_onto_a_full_tmpfs_ends_failed(small_disk, tracking_uri, leave):
    store = small_disk / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    shutil.copyfile(tracking_uri.removeprefix("sqlite:///"), store)
    fill(small_disk, leave)
    uri = f"sqlite:///{store}"
    result = hardness("imbalance", "--identifier", "energy", "--hard-sets", "1", "--inits", "1", "--set",
                      "imbalance.train_ratios=[0.5]", "--tracking-uri", uri, *TINY, cwd=small_disk)
    if result.returncode != 0:  # with room enough the grid may finish: then nothing to check but success
        assert_full_disk_line(result)
    assert_nothing_running(uri)


def test_export_and_report_onto_a_full_disk_leave_no_partial_file(small_disk, tracking_uri, tmp_path):
    done = hardness("run", "--seeds", "2", "--tracking-uri", tracking_uri, "--json", *TINY, "--subset-size", "1500",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = __import__("json").loads(done.stdout)["parent_run_id"]
    fill(small_disk, 8_000)  # the store has room; the folder written to has 8 kB left
    exported = hardness("export", "--run-id", run_id, "--tracking-uri", tracking_uri, "--out", small_disk / "e.csv",
                        cwd=tmp_path)
    assert_full_disk_line(exported)
    reported = hardness("report", "--tracking-uri", tracking_uri, "--out", small_disk / "reports", cwd=tmp_path)
    assert_full_disk_line(reported)
    assert not (small_disk / "e.csv").exists()
    assert_no_partial_files(small_disk)
    assert_nothing_running(tracking_uri)
