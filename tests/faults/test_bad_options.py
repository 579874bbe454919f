"""Guarantees on bad options and settings: each is refused with one line and its exit code before any run exists,
`--json` answers with a JSON error, and no secret is printed."""

import json
import os
import time

import pytest

from hardness.errors import ExitCode
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker
from tests.faults.guarantees import TINY, assert_no_partial_files, assert_one_line, invoke, runs_of

SECRET = "s3cretpw"


def fresh(tmp_path):
    return f"sqlite:///{tmp_path}/store/mlflow.db"


@pytest.mark.parametrize("command", [["run"], ["identify", "--identifier", "energy"],
                                     ["imbalance", "--identifier", "energy"], ["detect", "--identifiers", "energy"]])
@pytest.mark.parametrize("seed", ["-1", str(2 ** 64)])
def test_a_seed_out_of_range_is_refused_before_any_run(tmp_path, command, seed):
    uri = fresh(tmp_path)
    result = invoke(*command, "--seed", seed, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "seed")
    assert runs_of(uri) == []


@pytest.mark.parametrize("name", ["", "x" * 501])
def test_an_invalid_experiment_name_is_bad_input(tmp_path, name):
    uri = fresh(tmp_path)
    result = invoke("run", "--experiment", name, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "tracking.experiment")
    assert runs_of(uri) == []


def test_ui_never_prints_the_servers_password():
    result = invoke("ui", "--tracking-uri", f"http://user:{SECRET}@127.0.0.1:5000")
    assert result.exit_code == 0 and SECRET not in result.output and "http://user:***@127.0.0.1:5000" in result.output


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished `hardness run` to export and report on: (tracking uri, run id)."""
    folder = tmp_path_factory.mktemp("finished")
    uri = fresh(folder)
    result = invoke("run", "--seeds", "2", "--tracking-uri", uri, "--json", *TINY)
    assert result.exit_code == 0, result.output
    return uri, json.loads(result.stdout)["parent_run_id"]


def _unusable(tmp_path):
    """(option value, what the error says) for each unusable output path."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    return {"a folder": (tmp_path / "folder", "is a folder"), "under a file": (tmp_path / "file" / "x.csv", "is a file")}


@pytest.mark.parametrize("case", ["a folder", "under a file"])
@pytest.mark.parametrize("as_json", [False, True])
def test_export_to_an_unusable_path_is_one_line(finished_run, tmp_path, case, as_json):
    uri, run_id = finished_run
    out, says = _unusable(tmp_path)[case]
    result = invoke("export", "--run-id", run_id, "--tracking-uri", uri, "--out", out, *(["--json"] if as_json else []))
    assert_one_line(result, ExitCode.BAD_INPUT, "--out", says)
    if as_json:
        assert json.loads(result.stdout)["exit_code"] == ExitCode.BAD_INPUT
    assert_no_partial_files(tmp_path)


def test_clean_out_onto_a_file_is_one_line(finished_run, tmp_path):
    uri, run_id = finished_run
    (tmp_path / "file").write_text("x")
    result = invoke("export", "--run-id", run_id, "--tracking-uri", uri, "--out", tmp_path / "e.csv",
                    "--clean-out", tmp_path / "file", "--json")
    assert_one_line(result, ExitCode.BAD_INPUT, "--clean-out", "is a file")
    assert json.loads(result.stdout)["exit_code"] == ExitCode.BAD_INPUT and not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize("case", ["a file", "under a file"])
def test_report_to_an_unusable_folder_is_one_line(finished_run, tmp_path, case):
    uri, _ = finished_run
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" if case == "a file" else tmp_path / "file" / "reports"
    result = invoke("report", "--tracking-uri", uri, "--out", out, "--json")
    assert_one_line(result, ExitCode.BAD_INPUT, "--out")
    assert json.loads(result.stdout)["exit_code"] == ExitCode.BAD_INPUT


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: no unwritable folder to try")
def test_export_into_an_unwritable_folder_is_one_line(finished_run, tmp_path):
    uri, run_id = finished_run
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = invoke("export", "--run-id", run_id, "--tracking-uri", uri, "--out", locked / "e.csv")
    assert_one_line(result, ExitCode.BAD_INPUT, "no write permission")


def _diamond(folder, levels):
    """Files level0..level<levels>, each extending the two files of the level below: 2^levels paths to the root."""
    (folder / "a0.yaml").write_text("seed: 1\n")
    (folder / "b0.yaml").write_text("seeds: 2\n")
    for level in range(1, levels + 1):
        for side in "ab":
            (folder / f"{side}{level}.yaml").write_text(f"extends: [a{level - 1}.yaml, b{level - 1}.yaml]\n")
    return folder / f"a{levels}.yaml"


def test_an_extends_diamond_reads_each_file_once(tmp_path):
    from hardness.config import load_config

    started = time.perf_counter()
    config = load_config(_diamond(tmp_path, 15))  # 32,768 paths to the bottom files
    assert time.perf_counter() - started < 1.0 and (config.seed, config.seeds) == (1, 2)


def test_an_extends_chain_too_deep_is_refused(tmp_path):
    result = invoke("run", _diamond(tmp_path, 40), "--tracking-uri", fresh(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, "more than 16 deep")


def test_a_stale_threshold_under_three_heartbeats_is_refused(tracking_uri):
    result = invoke("runs", "--tracking-uri", tracking_uri, "--stale-after", "10", "--mark-stale-failed")
    assert_one_line(result, ExitCode.BAD_INPUT, "--stale-after 10", "3 heartbeats (90 s)")


def test_a_run_ending_finished_loses_its_stale_mark(tracking_uri):
    tracker = Tracker(tracking_uri, "stale")
    with tracker.run("alive") as run_id:  # `hardness runs --mark-stale-failed` took it for dead meanwhile
        tracker.set_tags(run_id, {schema.STALE: "true"})
        tracker.end_run(run_id, "FAILED")
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and schema.STALE not in run.data.tags
