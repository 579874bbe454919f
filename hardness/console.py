"""Terminal presentation with rich: progress bars, tables from DataFrames, one-line errors."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# Piped output (logs, CI) would default to 80 columns and fold wide tables; give it room instead.
console = Console(width=None if sys.stdout.isatty() else 160)
error_console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator:
    """Yield a progress(done, total, status) callback drawing one rich bar, shown from its first update."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=error_console)
    task = bar.add_task(description, total=None, status="")

    def update(done: int, total: int, status: str = "") -> None:
        if not enabled:
            return
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total, status=status)

    try:
        yield update
    finally:
        bar.stop()


def format_value(value: object) -> str:
    """Numbers with sensible precision, NaN as a dash."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def print_table(frame: pd.DataFrame, *, title: str | None = None) -> None:
    """Print a DataFrame as a rich table."""
    table = Table(title=title, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(format_value(value) for value in row))
    console.print(table)


def print_error(message: str) -> None:
    """One line on stderr, no traceback."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
