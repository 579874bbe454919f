"""Data a caller holds in memory (NumPy arrays, torch tensors, a pandas DataFrame with a label column) as RawData.

The Python API's source. It converts through the npz and table readers' own steps (`raw_from_arrays`,
`feature_columns`), so the same values give the same prepared data whether they come from memory or from a file the
CLI reads. Labels may be any hashable values and sample ids anything: both are kept, so answers go back to the
caller as given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hardness.config import DataConfig
from hardness.datasets.arrays import raw_from_arrays
from hardness.datasets.labels import encode_labels
from hardness.datasets.raw import RawData, check_classes, check_finite
from hardness.errors import UserError

WHERE = "the data given"


@dataclass(frozen=True)
class InMemory:
    """The caller's data as read: `raw` in the caller's order (index = position), the label value of each class id
    (`classes`) and the caller's sample ids [N] (None when not given)."""

    raw: RawData
    classes: tuple[Hashable, ...]
    ids: np.ndarray | None

    def labels_as_given(self, class_ids: np.ndarray) -> np.ndarray:
        """Class ids [M] back to the caller's label values [M] (an object array)."""
        lookup = np.empty(len(self.classes), dtype=object)
        lookup[:] = list(self.classes)
        return lookup[class_ids]


def read_in_memory(x: Any, y: Any = None, *, ids: Any = None, label_column: str = "label",
                   feature_columns: Sequence[str] | None = None) -> InMemory:
    """x as samples [N, ...] (array or tensor; images [N, H, W(, C)] or [N, C, H, W]) or a DataFrame (its numeric
    columns, or `feature_columns`, are the features; its `label_column` the labels unless y is given), y [N] labels."""
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        samples, y, names = _from_frame(x, y, label_column, feature_columns)
    else:
        if feature_columns is not None:
            raise TypeError("feature_columns applies to a pandas DataFrame, not to an array")
        samples, names = _as_numpy(x, "X"), None
        if y is None:
            raise TypeError("give the labels y (or X as a pandas DataFrame with a label column)")
    codes, classes = encode_given_labels(y)
    class_names = None if list(classes) == list(range(len(classes))) else np.array([str(c) for c in classes])
    raw = raw_from_arrays(samples, codes, WHERE, names=class_names)
    if names is not None:
        raw = dataclasses.replace(raw, feature_names=names)
    check_finite(raw, WHERE)
    check_classes(raw, WHERE)
    return InMemory(raw, tuple(classes), _sample_ids(ids, raw.n_samples))


def encode_given_labels(y: Any) -> tuple[np.ndarray, list[Hashable]]:
    """(class ids [N] int64, the label value of each class) for labels of any hashable type: sorted classes when the
    labels sort (as the file readers order them), else in order of first appearance."""
    values = _as_numpy(y, "y") if isinstance(y, (np.ndarray, torch.Tensor)) else _label_list(y)
    if values.ndim != 1:
        raise TypeError(f"y must hold one label per sample, not an array of shape {values.shape}")
    if values.dtype != object:
        codes, _, _ = encode_labels(values, WHERE)
        return codes.numpy(), np.unique(values).tolist()
    items = values.tolist()
    if any(item is None or (isinstance(item, float) and math.isnan(item)) for item in items):
        raise UserError(f"{WHERE} has samples without a label: drop them or give them one")
    try:
        classes = sorted(set(items))
    except TypeError:
        classes = list(dict.fromkeys(items))
    lookup = {value: code for code, value in enumerate(classes)}
    return np.array([lookup[item] for item in items], dtype=np.int64), classes


def _label_list(y: Any) -> np.ndarray:
    """Labels given as a list, tuple or pandas Series: numbers and text as a typed array, anything else as objects."""
    import pandas as pd

    if isinstance(y, pd.Series):
        y = y.to_numpy()
    if isinstance(y, np.ndarray):
        return y
    if not isinstance(y, Sequence) or isinstance(y, (str, bytes)):
        raise TypeError(f"y must be an array, a tensor, a list or a pandas Series of labels, not {type(y).__name__}")
    items = list(y)
    kinds = {type(item) for item in items}
    if kinds and all(issubclass(kind, (bool, int, str, np.integer, np.bool_)) for kind in kinds) and len(kinds) == 1:
        return np.asarray(items)
    values = np.empty(len(items), dtype=object)
    values[:] = items
    return values


def _as_numpy(values: Any, name: str) -> np.ndarray:
    """A NumPy view of an array, a tensor (any device, no grad) or a nested list."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, (list, tuple)):
        return np.asarray(values)
    raise TypeError(f"{name} must be a NumPy array, a torch tensor or a pandas DataFrame, not {type(values).__name__}")


def _from_frame(frame: Any, y: Any, label_column: str,
                feature_columns: Sequence[str] | None) -> tuple[np.ndarray, Any, tuple[str, ...]]:
    """(features [N, D] float32, labels, feature names) of a DataFrame, its features chosen as a table file's are."""
    from hardness.datasets.tabular import feature_columns as choose_columns

    if y is None:
        if label_column not in frame:
            raise UserError(f"{WHERE} has no label column {label_column!r} (columns: "
                            f"{', '.join(repr(str(c)) for c in frame.columns)}): give label_column or y")
        y = frame[label_column]
    config = DataConfig(name="csv", path="in-memory", label_column=label_column,
                        feature_columns=None if feature_columns is None else tuple(feature_columns))
    columns = choose_columns(frame, config, WHERE)
    features = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan, copy=True)
    return features, y, tuple(str(c) for c in columns)


def _sample_ids(ids: Any, n: int) -> np.ndarray | None:
    """The caller's sample ids as an array [N], checked for length."""
    if ids is None:
        return None
    values = _as_numpy(ids, "ids") if isinstance(ids, (np.ndarray, torch.Tensor)) else np.asarray(list(ids), dtype=object)
    if values.shape != (n,):
        raise ValueError(f"ids must hold one id per sample ({n}), not {values.shape[0] if values.ndim else 0}")
    return values
