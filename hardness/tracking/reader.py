"""The read half of the tracker: find runs, read one back, load the tables and texts it logged.

Together with hardness.tracking.tracker, the only code that talks to MLflow. A Tracker is a RunReader; readers of
finished work (report, export, runs) use only these methods.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from hardness.errors import UserError
from hardness.redaction import redact_url
from hardness.tracking import schema

_INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


class RunReader:
    """Reads one experiment of one store; the tracker that opens the store sets these four attributes."""

    client: mlflow.MlflowClient
    uri: str
    experiment_name: str
    experiment_id: str

    def has_run(self, run_id: str) -> bool:
        """Whether `run_id` is a live (not deleted) run of this tracker's experiment."""
        try:
            info = self.client.get_run(run_id).info
        except MlflowException:
            return False
        return info.experiment_id == self.experiment_id and info.lifecycle_stage == "active"

    def find_run_by_tag(self, tag: str, value: str) -> str | None:
        """The newest run of this experiment whose `tag` equals `value`, whatever its status."""
        runs = self.find_runs(f"tags.`{tag}` = '{value}'")
        return None if runs.empty else str(runs["run_id"].iloc[0])

    def find_runs(self, filter_string: str = "", *, experiment_names: list[str] | None = None,
                  run_ids: list[str] | None = None) -> pd.DataFrame:
        """Runs as one row each (run_id, status, ..., metrics.*, params.*, tags.*), newest first."""
        if run_ids is not None:
            if not run_ids:
                return pd.DataFrame(columns=_INFO_COLUMNS)
            quoted = ", ".join(f"'{r}'" for r in run_ids)
            wanted = f"attributes.run_id IN ({quoted})"
            filter_string = f"{filter_string} AND {wanted}" if filter_string else wanted
        experiment_ids = []
        for name in experiment_names or [self.experiment_name]:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise UserError(f"experiment {name!r} not found in {redact_url(self.uri)}")
            experiment_ids.append(found.experiment_id)
        rows, token = [], None
        while True:
            page = self.client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
            rows += [_run_row(run) for run in page]
            token = page.token
            if not token:
                break
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=_INFO_COLUMNS)

    def load_table(self, run_id: str, artifact_file: str) -> pd.DataFrame:
        """Read back a CSV artifact written by log_table."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(run_id, artifact_file, dst_path=tmp)
            except (MlflowException, OSError) as error:
                raise UserError(f"run {run_id} has no artifact {artifact_file!r}: {error}") from None
            return pd.read_csv(local)

    def load_text(self, run_id: str, artifact_file: str) -> str:
        """Read back a text artifact (e.g. config.yaml)."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(run_id, artifact_file, dst_path=tmp)
            except (MlflowException, OSError) as error:
                raise UserError(f"run {run_id} has no artifact {artifact_file!r}: {error}") from None
            return Path(local).read_text(encoding="utf-8")

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Run `run_id` of any experiment in this store, as a find_runs row plus `experiment` (its experiment's name);
        a missing or deleted run is a UserError."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            run = None
        if run is None or run.info.lifecycle_stage != "active":
            raise UserError(f"run {run_id} not found in {redact_url(self.uri)}: check the run id (hardness runs lists "
                            f"an experiment's runs)")
        return {**_run_row(run), "experiment": self.client.get_experiment(run.info.experiment_id).name}

    def finished_runs_by_tag(self, tag: str, parent_run_id: str | None = None) -> dict[str, str]:
        """{tag value: run id} of FINISHED runs carrying `tag` (children of `parent_run_id` if given); newest wins."""
        filter_string = "attributes.status = 'FINISHED'"
        if parent_run_id is not None:
            filter_string += f" AND tags.`{schema.PARENT_RUN_ID}` = '{parent_run_id}'"
        runs = self.find_runs(filter_string)
        column = f"tags.{tag}"
        if column not in runs:
            return {}
        done: dict[str, str] = {}
        for value, run_id in zip(runs[column], runs["run_id"]):
            if isinstance(value, str):
                done.setdefault(value, run_id)
        return done


def _run_row(run: Any) -> dict[str, Any]:
    """One search_runs row in mlflow.search_runs' column layout."""
    info = run.info
    row: dict[str, Any] = {
        "run_id": info.run_id, "experiment_id": info.experiment_id, "status": info.status,
        "artifact_uri": info.artifact_uri, "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True),
    }
    row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
    row.update({f"params.{k}": v for k, v in run.data.params.items()})
    row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
    return row
