"""A user's table, CSV or Parquet: the label column `data.label_column`, features from `data.feature_columns` or
else every other numeric column (text columns such as names or ids are left out). Row position = original index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hardness.config import DataConfig
from hardness.datasets.labels import encode_labels
from hardness.datasets.raw import RawData, source_path
from hardness.errors import UserError

MOSTLY_NUMBERS = 0.5
"""A text column whose values are more than this share numbers is a numeric column with typos, not a text one."""


def read_table(config: DataConfig) -> pd.DataFrame:
    """The whole table at data.path (every column, as the file holds it)."""
    path = source_path(config)
    try:
        return pd.read_parquet(path) if config.name == "parquet" else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot read the {config.name} file {path}: {first}") from None
    except ImportError as error:
        raise UserError(f"reading {path} needs a Parquet engine: pip install pyarrow ({error})") from None


def read_tabular(config: DataConfig) -> RawData:
    """Features [N, D] float32 and labels of the table at data.path."""
    frame = read_table(config)
    where = f"the {config.name} file {Path(config.path)}"
    if config.label_column not in frame:
        raise UserError(f"{where} has no label column {config.label_column!r} (columns: {_names(frame.columns)}): set "
                        f"data.label_column")
    columns = feature_columns(frame, config, where)
    features = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan, copy=True)  # writable, for torch
    labels, n_classes, names = encode_labels(frame[config.label_column].to_numpy(), where)
    return RawData(torch.from_numpy(features), labels, torch.arange(len(frame)), n_classes, class_names=names,
                   feature_names=tuple(str(c) for c in columns))


def feature_columns(frame: pd.DataFrame, config: DataConfig, where: str) -> list[str]:
    """data.feature_columns (each present and numeric), else every numeric column but the label's; a text column
    holding mostly numbers is refused rather than silently left out."""
    if config.feature_columns is not None:
        missing = [c for c in config.feature_columns if c not in frame]
        if missing:
            raise UserError(f"{where} has no column {_names(missing)} of data.feature_columns (columns: "
                            f"{_names(frame.columns)})")
        text = [c for c in config.feature_columns if not _is_numeric(frame[c])]
        if text:
            raise UserError(f"data.feature_columns {_names(text)} of {where} are not numeric: "
                            f"{_example(frame[text[0]])}; encode them as numbers or leave them out")
        if config.label_column in config.feature_columns:
            raise UserError(f"data.feature_columns of {where} include the label column {config.label_column!r}")
        return list(config.feature_columns)
    others = [c for c in frame.columns if c != config.label_column]
    for column in others:
        if not _is_numeric(frame[column]) and _mostly_numbers(frame[column]):
            raise UserError(f"column {column!r} of {where} is not numeric: {_example(frame[column])}; fix those "
                            f"values, or list the feature columns in data.feature_columns")
    numeric = [c for c in others if _is_numeric(frame[c])]
    if not numeric:
        raise UserError(f"{where} has no numeric feature column besides the label {config.label_column!r} (columns: "
                        f"{_names(frame.columns)}): encode the features as numbers")
    return numeric


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _mostly_numbers(series: pd.Series) -> bool:
    present = series.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().mean() > MOSTLY_NUMBERS


def _example(series: pd.Series) -> str:
    """'value 'n/a' in row 7' for the first value of `series` that is not a number."""
    bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
    if not bad.any():
        return f"its type is {series.dtype}"
    row = bad.to_numpy().nonzero()[0][0]
    return f"{int(bad.sum())} values are not numbers (first {series.iloc[row]!r} in row {row})"


def _names(columns) -> str:
    return ", ".join(repr(str(c)) for c in columns)
