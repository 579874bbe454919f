"""Guarantees on resumes that race: two processes resuming one study at once never train a cell twice (the second
is refused with one line, exit 3, while the first owns the study), and a later resume finishes what is left."""

import collections
import json

import pandas as pd
import pytest

from hardness.studies.report import load
from hardness.tracking import schema
from tests.faults.guarantees import TINY, assert_nothing_running, runs_of
from tests.processes import start

GRID = ["imbalance", "--identifier", "energy", "--hard-sets", "2", "--inits", "1", "--set",
        "imbalance.train_ratios=[0.5,0.7]", *TINY]
CELLS = 2 * 2 * 9  # hard sets x train ratios x the default fractions kept


def finished_cells(uri):
    return [run.data.tags["hardness.cell"] for run in runs_of(uri)
            if "hardness.cell" in run.data.tags and run.info.status == "FINISHED"]


@pytest.mark.slow
def test_two_resumes_at_once_train_every_cell_exactly_once(tracking_uri):
    first, second = (start(tracking_uri, "race", *GRID, "--json") for _ in range(2))
    results = [(process.wait(timeout=600), *process.communicate()) for process in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    refused = next(stderr for code, _, stderr in results if code == 3)
    assert refused.strip().splitlines()[-1].startswith("error: another hardness process is running this study")
    assert "Traceback" not in refused
    cells = finished_cells(tracking_uri)
    assert len(cells) == CELLS and collections.Counter(cells).most_common(1)[0][1] == 1
    again = start(tracking_uri, "race", *GRID, "--json")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert json.loads(out)["skipped_cells"] == CELLS and len(finished_cells(tracking_uri)) == CELLS
    assert_nothing_running(tracking_uri)


def test_report_counts_a_cell_logged_twice_once_and_says_so():
    """Stores written before resumes were refused may hold a cell twice: the report keeps the newest run of each."""
    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "status": "FINISHED", load.tag(schema.PARENT_RUN_ID): "grid",
                         load.tag(schema.CELL): ["h0-r0.5-f1", "h0-r0.5-f0.5", "h0-r0.5-f1", "h1-r0.5-f1"]})
    assert load.count_duplicate_cells(runs, "grid") == 1
    assert load._cell_runs(runs, {"grid"})["run_id"].tolist() == ["b", "c", "d"]  # oldest first: "c" is the newer
