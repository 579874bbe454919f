"""The report's files: figures (PNG + PDF) and tables (CSV + Markdown) under one folder, indexed in report.md; each
written whole or not at all (hardness.studies.common.destinations)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hardness.studies.common.destinations import written_whole
from hardness.studies.report.aggregate import to_markdown
from hardness.tracking import schema

FOLDERS = {"figure": schema.REPORT_FIGURES, "table": schema.REPORT_TABLES}
CONVENTIONS = ("Error bars and bands: ± 1 standard deviation (ddof=1) across seeds or hard sets; "
               "`ci_low`/`ci_high` columns: Student-t 95% confidence interval of the mean.\n")


@dataclass(frozen=True)
class ReportFile:
    """One figure (PNG + PDF) or table (CSV, usually + Markdown) the report wrote."""

    stem: str
    kind: str
    description: str
    source: str
    paths: tuple[Path, ...]

    @property
    def folder(self) -> str:
        """Its folder, under the report's output folder and among the report run's artifacts alike."""
        return FOLDERS[self.kind]


class Writer:
    """Writes figures and tables under `out` and collects them, section by section, for report.md."""

    def __init__(self, out: Path):
        self.out = out
        self.files: list[ReportFile] = []
        self.sections: list[tuple[str, list[str]]] = []
        self.notes: list[str] = []
        self.source = ""

    def section(self, heading: str, source: str = "") -> None:
        """Start a section of report.md; what follows is credited to run `source`."""
        self.sections.append((heading, []))
        self.source = source

    def note(self, text: str) -> None:
        """A remark on the data of the current section, in report.md and in the command's output."""
        self.notes.append(text)
        self.sections[-1][1].append(f"> Note: {text}\n")

    def figure(self, figure, stem: str, description: str) -> None:
        """Save a matplotlib Figure as <stem>.png and a reproducible <stem>.pdf."""
        folder = self._folder("figure")
        paths = (folder / f"{stem}.png", folder / f"{stem}.pdf")
        with written_whole(paths[0]) as partial:
            figure.savefig(partial, dpi=200)
        with written_whole(paths[1]) as partial:
            figure.savefig(partial, metadata={"CreationDate": None})  # same data, same bytes
        self.files.append(ReportFile(stem, "figure", description, self.source, paths))
        self.sections[-1][1].append(f"**{description}**\n\n![{description}]({folder.name}/{stem}.png)\n")

    def table(self, frame: pd.DataFrame, stem: str, description: str, *, display: pd.DataFrame | None = None,
              markdown: bool = True) -> None:
        """CSV always (all numbers); Markdown of `display` (or the frame) unless it is a long curve table."""
        folder = self._folder("table")
        paths = [folder / f"{stem}.csv"]
        with written_whole(paths[0]) as partial:
            frame.to_csv(partial, index=False)
        link = f"{folder.name}/{stem}.csv"
        if markdown:
            text = to_markdown(frame if display is None else display)
            paths.append(folder / f"{stem}.md")
            _write_text(paths[1], text)
            self.sections[-1][1].append(f"**{description}** ([csv]({link}))\n\n{text}")
        else:
            self.sections[-1][1].append(f"**{description}**: [{link}]({link}) ({len(frame)} rows)\n")
        self.files.append(ReportFile(stem, "table", description, self.source, tuple(paths)))

    def index(self, title: str) -> Path:
        """Write report.md: the title, the conventions, then every section that holds something."""
        lines = [f"# {title}\n", CONVENTIONS]
        for heading, parts in self.sections:
            if parts:
                lines += [f"## {heading}\n", *parts]
        path = self.out / schema.REPORT_INDEX
        _write_text(path, "\n".join(lines))
        return path

    def _folder(self, kind: str) -> Path:
        folder = self.out / FOLDERS[kind]
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _write_text(path: Path, text: str) -> None:
    with written_whole(path) as partial:
        partial.write_text(text)
