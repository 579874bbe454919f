"""What every fault case of tests/faults checks: one error line, the documented exit code, no traceback, no run left
RUNNING, no output file left half written."""

from pathlib import Path

from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app

runner = CliRunner()
TINY = ["--subset-size", "240", "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]
"""A `hardness run` of a second or two on the bundled digits."""


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def assert_one_line(result, code, *fragments):
    """Exit `code`, one error line on stderr (the last; a progress bar may precede it) holding every fragment, no
    traceback anywhere."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def runs_of(uri):
    """Every run in the store at `uri` (none when the store was never created)."""
    db = Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("sqlite:///") and not db.exists():
        return []
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=3)]
    return client.search_runs(experiments, run_view_type=3) if experiments else []


def assert_nothing_running(uri):
    assert [run.info.run_name for run in runs_of(uri) if run.info.status == "RUNNING"] == []


def assert_no_partial_files(folder):
    """No file the atomic writes left under its temporary name."""
    assert [path for path in Path(folder).rglob(".partial-*")] == []
