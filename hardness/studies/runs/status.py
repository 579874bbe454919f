"""The runs table of `hardness runs` as computation: which runs are stale, how old each is (pandas in, pandas out).

A run is stale when MLflow says RUNNING but its last sign of life (heartbeat tag, else its start) is older than
`stale_after_s`: its process was killed without a chance to end it (SIGKILL, a lost machine, out of memory).
"""

from __future__ import annotations

import pandas as pd

from hardness.tracking import schema
from hardness.tracking.heartbeat import last_seen_ms

COLUMNS = ["run_id", "name", "kind", "status", "stale", "age_s", "seen_s", "parent_run_id"]


def _tag(runs: pd.DataFrame, key: str) -> pd.Series:
    column = f"tags.{key}"
    return runs[column] if column in runs else pd.Series(None, index=runs.index, dtype=object)


def build_run_table(runs: pd.DataFrame, *, now_ms: float, stale_after_s: float) -> pd.DataFrame:
    """One row per run (rows as Tracker.find_runs gives them), newest first: id, name, kind, MLflow status, stale,
    seconds since its start (age_s) and since its last sign of life (seen_s), parent run id."""
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    start = runs["start_time"].map(lambda t: int(t.timestamp() * 1000))
    seen = [last_seen_ms(s, beat) for s, beat in zip(start, _tag(runs, schema.HEARTBEAT))]
    table = pd.DataFrame({
        "run_id": runs["run_id"], "name": _tag(runs, schema.RUN_NAME), "kind": _tag(runs, schema.KIND),
        "status": runs["status"], "stale": False,
        "age_s": (now_ms - start) / 1000, "seen_s": (now_ms - pd.Series(seen, index=runs.index)) / 1000,
        "parent_run_id": _tag(runs, schema.PARENT_RUN_ID),
    })
    table["stale"] = (table["status"] == "RUNNING") & (table["seen_s"] > stale_after_s)
    return table.sort_values("age_s", kind="stable").reset_index(drop=True)


def format_age(seconds: float) -> str:
    """'42s', '7m 05s', '3h 12m', '2d 04h': the two leading units."""
    seconds = max(0, int(seconds))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            return f"{seconds // size}{unit} {seconds % size // sub_size:02d}{sub}"
    return f"{seconds}s"


def select_shown(table: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The newest `limit` rows of a run table (all when 0) and every stale one."""
    return table if limit <= 0 else table[(table.index < limit) | table["stale"]]


def format_run_table(table: pd.DataFrame) -> pd.DataFrame:
    """A run table for the terminal: status marked '(stale)', ages as '7m 05s', last seen only for RUNNING runs."""
    running = table["status"] == "RUNNING"
    return pd.DataFrame({
        "run_id": table["run_id"], "name": table["name"], "kind": table["kind"],
        "status": table["status"] + table["stale"].map({True: " (stale)", False: ""}),
        "age": table["age_s"].map(format_age),
        "last seen": [format_age(seen) if alive else "-" for seen, alive in zip(table["seen_s"], running)],
    })
