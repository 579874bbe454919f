"""The data map of a tracked run: its verdicts (diagnosis.csv, else its flags) and its data drawn as one HTML page,
logged as the run's datamap.html artifact; at the end of identify, benchmark and diagnose runs, or on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardness.datasets.prepare import Dataset
from hardness.errors import UserError
from hardness.studies.common.destinations import check_output_file, written_whole
from hardness.studies.common.tables import build_sample_table
from hardness.studies.datamap.page import THUMBNAIL_BYTES, render_page
from hardness.studies.datamap.verdicts import build_review_table
from hardness.studies.export.run import load_run_data, open_run, read_verdicts
from hardness.studies.report.load import quiet_downloads
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker


@dataclass(frozen=True)
class DatamapSummary:
    """What `hardness datamap` drew: the run, how many samples, the artifact and the file written (if asked)."""

    run_id: str
    kind: str
    n_samples: int
    artifact: str
    out: Path | None

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "n_samples": self.n_samples, "artifact": self.artifact,
                "out": None if self.out is None else str(self.out)}


def draw_datamap(tracker: Tracker, run_id: str, row: dict, dataset: Dataset, **options) -> str:
    """The page of run `run_id` (its row `row`) over its prepared `dataset`; `options` go to render_page."""
    with quiet_downloads():
        review = build_review_table(read_verdicts(tracker, run_id, row, build_sample_table(dataset)))
    kind = row[f"tags.{schema.KIND}"]
    title = f"{kind} run {run_id[:8]}: {dataset.name}"
    identifier = row.get(f"tags.{schema.IDENTIFIER}")
    subtitle = f"{identifier}; " if isinstance(identifier, str) else ""
    counts = review["verdict"].value_counts()
    subtitle += ", ".join(f"{counts[v]} {v}" for v in schema.VERDICTS if v in counts)
    return render_page(review, dataset, title=title, subtitle=subtitle, **options)


def log_datamap(tracker: Tracker, run_id: str, dataset: Dataset) -> None:
    """Draw the data map of a study's run from what it logged so far and log it as datamap.html (the study shells call
    this last, while their run is open)."""
    page = draw_datamap(tracker, run_id, tracker.get_run(run_id), dataset)
    tracker.log_text(run_id, page, schema.DATAMAP)


def run_datamap(run_id: str, *, tracking_uri: str | None = None, out: Path | None = None, x: str | None = None,
                y: str | None = None, color: str = "verdict",
                thumbnail_mb: float = THUMBNAIL_BYTES / 1e6) -> DatamapSummary:
    """Draw a finished run's data map again (other axes, colours, thumbnail budget), reading its data where the run
    found it; log it as the run's datamap.html and, with `out`, write it there too."""
    if out is not None:
        check_output_file(out, "--out")
    tracker, row = open_run(tracking_uri, run_id)
    with quiet_downloads():
        _, _, dataset = load_run_data(tracker, run_id, row)
    try:
        page = draw_datamap(tracker, run_id, row, dataset, x=x, y=y, color=color,
                            thumbnail_bytes=int(thumbnail_mb * 1e6))
    except ValueError as error:  # an axis or colour the run does not have
        raise UserError(str(error)) from None
    tracker.log_text(run_id, page, schema.DATAMAP)
    if out is not None:
        with written_whole(out) as partial:
            partial.write_text(page, encoding="utf-8")
    return DatamapSummary(run_id, row[f"tags.{schema.KIND}"], dataset.n_samples, schema.DATAMAP, out)
