"""Terminal presentation with rich: progress bars, tables from DataFrames, strict JSON, one-line errors."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hardness.redaction import redact

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
        if bar.live.is_started:  # stopping a bar never shown would still print an empty line
            bar.stop()


SIGNIFICANT = 3
"""Significant digits of a column's largest value; the column's other values get as many decimals."""
MAX_DECIMALS = 4


def column_decimals(values: pd.Series) -> int:
    """Decimals for a column of floats: whole numbers get none, else enough for SIGNIFICANT digits of the largest
    magnitude (at most MAX_DECIMALS), so every row of the column has the same precision."""
    finite = values[np.isfinite(values)]
    if finite.empty or bool((finite == finite.round()).all()):
        return 0
    largest = float(finite.abs().max())
    return int(min(MAX_DECIMALS, max(0, SIGNIFICANT - 1 - math.floor(math.log10(largest)))))


def format_column(values: pd.Series) -> list[str]:
    """A column's cells: floats with one precision per column (column_decimals), a non-zero value that would show
    as zero with its own two significant digits, NaN as a dash; anything else as text."""
    if values.dtype == object and all(isinstance(value, float) or value is None for value in values):
        values = values.astype(float)  # floats with gaps
    if not pd.api.types.is_float_dtype(values):
        return ["-" if isinstance(value, float) and math.isnan(value) else str(value) for value in values]
    decimals = column_decimals(values.astype(float))

    def cell(value: float) -> str:
        if math.isnan(value):
            return "-"
        if value != 0 and round(value, decimals) == 0:
            return f"{value:.2g}"
        return f"{value:.{decimals}f}" if abs(value) < 1e4 else f"{value:.0f}"

    return [cell(float(value)) for value in values]


def print_table(frame: pd.DataFrame, *, title: str | None = None) -> None:
    """Print a DataFrame as a rich table, numbers right-aligned at one precision per column."""
    table = Table(title=title, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for row in zip(*(format_column(frame.iloc[:, i]) for i in range(frame.shape[1]))):
        table.add_row(*row)
    console.print(table)


def to_strict_json(value: object) -> object:
    """`value` with NaN and infinities as None and numpy scalars as Python ones, so it encodes as strict JSON."""
    if isinstance(value, Mapping):
        return {str(key): to_strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_strict_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_strict_json(value.tolist())
    if isinstance(value, np.generic):
        return to_strict_json(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return None if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def print_json(value: object) -> None:
    """Print `value` as strict JSON on stdout (no NaN or Infinity, which most JSON parsers refuse), with the
    passwords of any URLs in it masked (a summary may carry a tracking URI)."""
    print(redact(json.dumps(to_strict_json(value), indent=2, allow_nan=False)))


def print_error(message: str) -> None:
    """One line on stderr, no traceback; the message is printed as is (no rich markup)."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
