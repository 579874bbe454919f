"""Faults a user or an operator can cause, reproduced through the CLI: each gives one line on stderr, its documented
exit code (docs/reference/exit-codes.md), no traceback, no run left RUNNING, no run at all where validation must refuse
first, and never a secret."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hardness.errors import ComputationFailed, ExitCode
from tests.faults.guarantees import TINY, assert_one_line, invoke, runs_of

SECRET = "secretpw"


def fresh_store(tmp_path):
    """A tracking URI whose store does not exist yet: a refusal before any run must leave it uncreated."""
    return f"sqlite:///{tmp_path}/fresh/mlflow.db"


# --- 1. secrets ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_json", [False, True])
def test_storage_password_is_masked_when_the_storage_fails(tracking_uri, as_json):
    url = f"postgresql://u:{SECRET}@127.0.0.1:9/db"  # port 9 refuses; without psycopg the driver is missing: exit 3 both
    result = invoke("search", "--identifier", "energy", "--trials", "1", "--storage", url,
                    "--tracking-uri", tracking_uri, *TINY, *(["--json"] if as_json else []))
    assert_one_line(result, ExitCode.ENVIRONMENT, "Optuna storage", "postgresql://u:***@127.0.0.1:9/db")
    assert SECRET not in result.output
    if as_json:
        assert json.loads(result.stdout)["exit_code"] == ExitCode.ENVIRONMENT
    for run in runs_of(tracking_uri):
        assert run.info.status != "RUNNING"
        assert SECRET not in json.dumps([run.data.params, run.data.tags])


def test_tracking_uri_password_is_masked():
    result = invoke("run", "--tracking-uri", f"http://user:{SECRET}@127.0.0.1:9", *TINY)
    assert_one_line(result, ExitCode.ENVIRONMENT, "http://user:***@127.0.0.1:9", "unreachable")
    assert SECRET not in result.output


def test_a_working_storage_url_is_never_logged_with_its_secret(tracking_uri, tmp_path):
    # SQLite takes query parameters with uri=true and ignores unknown ones: a working URL that carries a secret.
    url = f"sqlite:///{tmp_path}/optuna.db?uri=true&password={SECRET}"
    config = tmp_path / "search.yaml"
    config.write_text(f"search:\n  storage: '{url}'\n")
    result = invoke("search", config, "--identifier", "energy", "--trials", "1", "--tracking-uri", tracking_uri,
                    *TINY, "--set", "imbalance.hard_sets=1", "--set", "imbalance.inits=1", "--json")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and json.loads(result.stdout)["storage"].endswith("password=***")
    client, runs = MlflowClient(tracking_uri), runs_of(tracking_uri)
    assert runs and all(run.info.status == "FINISHED" for run in runs)
    parent = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    assert parent.data.params["search.storage"].endswith("password=***")
    assert parent.data.tags["optuna.storage"].endswith("password=***")
    for run in runs:
        assert SECRET not in json.dumps([run.data.params, run.data.tags])
        local = Path(client.download_artifacts(run.info.run_id, "", dst_path=str(tmp_path / run.info.run_id)))
        for file in (path for path in local.rglob("*") if path.is_file()):
            assert SECRET.encode() not in file.read_bytes(), file


@pytest.mark.parametrize("url, shown, secret", [
    ("postgresql://u:secretpw@127.0.0.1:9/db", "postgresql://u:***@127.0.0.1:9/db", "secretpw"),
    ("postgresql://u:secret@pw@host/db", "postgresql://u:***@host/db", "secret@pw"),
    ("http://me:secret%40pw@host:5000", "http://me:***@host:5000", "secret@pw"),
    ("mysql://u@host/db?sslmode=off&Password=secretpw", "mysql://u@host/db?sslmode=off&Password=***", "secretpw"),
    ("sqlite:////abs/optuna.db", "sqlite:////abs/optuna.db", None),
])
def test_redact_url_masks_the_secrets_only(url, shown, secret):
    from hardness.redaction import redact, redact_url, url_digest

    assert redact_url(url) == shown
    message = redact(f"cannot connect to {url}: the driver said {secret!r}", url)
    assert message == f"cannot connect to {shown}: the driver said {'***' if secret else None!r}"
    assert len(url_digest(url)) == 16 and (url_digest(url) != url_digest(shown)) == (secret is not None)


def test_a_corrupted_optuna_storage_is_an_environment_problem(tracking_uri, tmp_path):
    storage = tmp_path / "optuna.db"
    storage.write_bytes(os.urandom(4096))
    result = invoke("search", "--identifier", "energy", "--trials", "1", "--storage", f"sqlite:///{storage}",
                    "--tracking-uri", tracking_uri, *TINY)
    assert_one_line(result, ExitCode.ENVIRONMENT, f"cannot open Optuna storage sqlite:///{storage}")
    assert len(runs_of(tracking_uri)) == 0


# --- 5. inconsistent settings -------------------------------------------------------------------------------------

def test_warmup_past_the_epoch_budget_is_a_config_error(tmp_path):
    uri = fresh_store(tmp_path)
    result = invoke("run", "--tracking-uri", uri, "--epochs", "20", "--set", "inversion.warmup=20")
    assert_one_line(result, ExitCode.BAD_INPUT, "no inversion check can happen", "train.epochs 20")
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("size, classes", [(5, "classes 0 (0), 1 (0)"), (25, "classes 0 (1), 1 (1), 4 (1)")])
def test_a_subset_too_small_for_its_classes_names_them(tracking_uri, size, classes):
    result = invoke("run", "--tracking-uri", tracking_uri, "--subset-size", size, "--epochs", "30")
    assert_one_line(result, ExitCode.BAD_INPUT, f"the {size}-sample subset of digits", classes, "--subset-size")
    assert len(runs_of(tracking_uri)) == 0


def test_a_hard_set_too_small_for_the_grid_is_a_clear_error(tracking_uri):
    result = invoke("imbalance", "--identifier", "confidence", "--set", "threshold.method=top_k", "--set",
                    "threshold.k=1", "--hard-sets", "1", "--inits", "1", "--tracking-uri", tracking_uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "hard set 0 of confidence holds 1 hard", "threshold.k")
    assert [run.info.status for run in runs_of(tracking_uri)] == ["FAILED"]


def test_an_empty_hard_set_is_refused_before_training():
    import torch

    from hardness.config import load_config
    from hardness.errors import UserError
    from hardness.studies.common.checks import check_grid_sets

    config = load_config()
    hard = torch.zeros(2, 50, dtype=torch.bool)
    hard[0, :10] = True
    check_grid_sets(hard[:1], config, "energy")
    with pytest.raises(UserError, match="hard set 1 of energy holds 0 hard and 50 easy"):
        check_grid_sets(hard, config, "energy")
    check_grid_sets(hard, config, "energy", left_out=torch.tensor([False, True]))


# --- 6. config files ----------------------------------------------------------------------------------------------

def test_an_extends_cycle_names_the_chain(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nseeds: 2\n")
    result = invoke("run", tmp_path / "a.yaml", "--tracking-uri", fresh_store(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, "cycle", f"{tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> ")
    assert not (tmp_path / "fresh").exists()


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    (tmp_path / "bad.yaml").write_text("seeds: 2\ntrain:\n  lr: [0.1\n")
    result = invoke("run", tmp_path / "bad.yaml", "--tracking-uri", fresh_store(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, f"{tmp_path / 'bad.yaml'}:4:1 is not valid YAML")
    assert not (tmp_path / "fresh").exists()


# --- 7. stores ----------------------------------------------------------------------------------------------------

def _writable(path: Path) -> bool:
    probe = path / ".probe" if path.is_dir() else path
    try:
        with open(probe, "a"):
            pass
    except OSError:
        return False
    if path.is_dir():
        probe.unlink()
    return True


@pytest.fixture
def read_only():
    """make(path): take write access away from `path` (chmod; as root, chattr +i), skipping where neither works."""
    changed = []

    def make(path: Path) -> Path:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        changed.append((path, mode))
        if _writable(path) and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a path read-only here (root without chattr)")
        assert not _writable(path)
        return path

    yield make
    for path, mode in changed:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(mode)


def test_a_read_only_store_is_an_environment_problem(tracking_uri, read_only):
    db = read_only(Path(tracking_uri.removeprefix("sqlite:///")))
    result = invoke("run", "--tracking-uri", tracking_uri, *TINY)
    assert_one_line(result, ExitCode.ENVIRONMENT, f"the MLflow store {db} is read-only", "--tracking-uri")


def test_a_read_only_folder_for_a_new_store_is_an_environment_problem(tmp_path, read_only):
    folder = tmp_path / "locked"
    folder.mkdir()
    read_only(folder)
    result = invoke("run", "--tracking-uri", f"sqlite:///{folder}/mlflow.db", *TINY)
    assert_one_line(result, ExitCode.ENVIRONMENT, f"its folder {folder} is not writable", "--tracking-uri")


def test_a_corrupted_store_is_an_environment_problem(tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(os.urandom(4096))
    result = invoke("run", "--tracking-uri", f"sqlite:///{db}", *TINY)
    assert_one_line(result, ExitCode.ENVIRONMENT, f"the MLflow store {db} is corrupted", "backup")


def test_a_store_folder_that_cannot_be_created_is_an_environment_problem(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    folder = tmp_path / "file" / "store"
    result = invoke("run", "--tracking-uri", f"sqlite:///{folder}/mlflow.db", *TINY, "--json")
    assert_one_line(result, ExitCode.ENVIRONMENT, f"cannot create the folder {folder}", "--tracking-uri")
    assert json.loads(result.stdout)["exit_code"] == ExitCode.ENVIRONMENT


# --- 8. data files ------------------------------------------------------------------------------------------------

def test_a_truncated_idx_file_is_named(idx_dataset, tmp_path):
    root, _, _ = idx_dataset("MNIST", n_train=40, n_test=20)
    damaged = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    result = invoke("run", "--dataset", "mnist", "--data-root", root, "--tracking-uri", fresh_store(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, f"the mnist file {damaged} is damaged", "cut short")


# --- 9. validation before any run ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["imbalance", "--identifier", "nosuch"], "unknown identifier 'nosuch'; choose from: aum, cleanlab, confidence, datamaps"),
    (["identify", "--identifier", "nosuch"], "unknown identifier 'nosuch'"),
    (["search", "--identifier", "nosuch"], "unknown identifier 'nosuch'"),
    (["benchmark", "--identifiers", "stragglers,nosuch"], "unknown identifier 'nosuch'"),
    (["benchmark", "--identifiers", ","], "benchmark.identifiers: name at least one identifier"),
    (["benchmark", "--identifiers", "energy,energy"], "identifiers repeat"),
    (["run", "--dataset", "nosuch"], "unknown dataset 'nosuch'; choose from: digits, mnist"),
    (["identify", "--set", "threshold.method=top_k"], "threshold.method top_k needs threshold.k"),
])
def test_bad_names_and_settings_are_refused_before_the_store_is_touched(tmp_path, args, message):
    result = invoke(*args, "--tracking-uri", fresh_store(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, message)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("args, message", [
    (["identify", "--identifier", "energy", "--set", "threshold.method=top_k", "--set", "threshold.k=1000"],
     "threshold.k 1000 asks for more hard samples than the 240 of the 240-sample subset of digits"),
    (["identify", "--identifier", "energy", "--set", "threshold.method=top_k", "--set", "threshold.k=30",
      "--set", "threshold.level=class"], "threshold.k 30 per class asks for more hard samples than classes"),
    (["run", "--dataset", "kmnist", "--data-root", "nowhere"], "kmnist not found in nowhere/KMNIST/raw"),
])
def test_settings_the_data_cannot_serve_start_no_run(tracking_uri, args, message):
    result = invoke(*args, "--tracking-uri", tracking_uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, message)
    assert len(runs_of(tracking_uri)) == 0


# --- 11. strict JSON ----------------------------------------------------------------------------------------------

def _strict(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_when_a_class_never_inverts(tracking_uri):
    # one check only (at epoch 30): most classes are still shrinking there, so they never invert
    result = invoke("run", "--tracking-uri", tracking_uri, "--seeds", "2", "--epochs", "30", "--subset-size", "300",
                    "--set", "inversion.warmup=25", "--set", "inversion.max_retries=0", "--json")
    assert result.exit_code == 0, result.output
    summary = _strict(result.stdout)
    assert None in [row["inversion_epoch_mean"] for row in summary["per_class"]]


def test_json_errors_are_objects_on_stdout(tmp_path):
    result = invoke("run", "--dataset", "nosuch", "--json", "--tracking-uri", fresh_store(tmp_path))
    assert_one_line(result, ExitCode.BAD_INPUT, "unknown dataset")
    error = _strict(result.stdout)
    assert error["exit_code"] == 2 and "unknown dataset 'nosuch'" in error["error"]


# --- 12. exit codes -----------------------------------------------------------------------------------------------

def test_a_failed_computation_exits_4_and_ends_the_run_failed(tracking_uri, monkeypatch):
    import hardness.studies.stragglers.run as study

    def fail(*args, **kwargs):
        raise ComputationFailed("every model diverged")

    monkeypatch.setattr(study, "find_stragglers", fail)
    result = invoke("run", "--tracking-uri", tracking_uri, *TINY)
    assert_one_line(result, ExitCode.COMPUTATION_FAILED, "every model diverged")
    assert [run.info.status for run in runs_of(tracking_uri)] == ["FAILED"]


def test_a_bug_exits_1_with_its_traceback(tracking_uri, monkeypatch):
    import hardness.studies.stragglers.run as study

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(study, "find_stragglers", bug)
    result = invoke("run", "--tracking-uri", tracking_uri, *TINY)
    assert result.exit_code == ExitCode.BUG and isinstance(result.exception, ZeroDivisionError)
    assert [run.info.status for run in runs_of(tracking_uri)] == ["FAILED"]
