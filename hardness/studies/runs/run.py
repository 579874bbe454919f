"""`hardness runs`: list an experiment's runs with their status and age, and end the stale ones FAILED on request."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from hardness.redaction import redact_url
from hardness.studies.runs.status import build_run_table, format_run_table, select_shown
from hardness.tracking import schema
from hardness.tracking.heartbeat import check_stale_after
from hardness.tracking.tracker import Tracker


@dataclass(frozen=True)
class RunsSummary:
    """The runs shown (status.build_run_table rows: the newest and every stale one) out of `total`, where they were
    read, and the runs ended FAILED here."""

    experiment: str
    tracking_uri: str
    runs: pd.DataFrame
    total: int
    marked: list[str]

    @property
    def stale(self) -> list[str]:
        return self.runs.loc[self.runs["stale"], "run_id"].tolist()

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "tracking_uri": self.tracking_uri, "total": self.total,
                "stale": self.stale, "marked_failed": self.marked, "runs": self.runs.to_dict(orient="records")}

    def display(self) -> pd.DataFrame:
        return format_run_table(self.runs)

    def outcome(self, stale_after_s: float) -> str:
        """One line: how many stale runs there are and what to do, or how many were ended FAILED."""
        if self.marked:
            return f"{len(self.marked)} stale run(s) ended FAILED"
        if self.stale:
            return (f"{len(self.stale)} stale run(s) (RUNNING, not seen for over {stale_after_s:g} s): end them FAILED "
                    f"with --mark-stale-failed")
        return "no stale runs"


def list_runs(tracking_uri: str | None, experiment: str, *, stale_after_s: float, mark_stale_failed: bool = False,
              limit: int = 0) -> RunsSummary:
    """Read the experiment's runs (the store must exist; `limit` newest, 0: all, and every stale one); with
    `mark_stale_failed`, end every stale run FAILED and tag it hardness.stale=true. A run marked so by mistake (its
    process was alive) still ends with its own status."""
    check_stale_after(stale_after_s)
    tracker = Tracker(tracking_uri, experiment, must_exist=True)
    table = build_run_table(tracker.find_runs(), now_ms=time.time() * 1000, stale_after_s=stale_after_s)
    marked: list[str] = []
    if mark_stale_failed:
        for run_id in table.loc[table["stale"], "run_id"]:
            tracker.set_tags(run_id, {schema.STALE: "true"})
            tracker.end_run(run_id, "FAILED")
            marked.append(run_id)
        table.loc[table["run_id"].isin(marked), ["status", "stale"]] = ["FAILED", False]
    return RunsSummary(experiment, redact_url(tracker.uri), select_shown(table, limit), len(table), marked)
