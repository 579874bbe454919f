"""Labels as read (ints, strings, any sortable values) -> class ids 0..C-1 in sorted order, and the class names."""

from __future__ import annotations

import numpy as np
import torch

from hardness.errors import UserError


def encode_labels(values: np.ndarray, where: str) -> tuple[torch.Tensor, int, tuple[str, ...] | None]:
    """(class ids [N] int64, number of classes, class names or None) of labels `values` [N].

    Integer labels that already are 0..C-1 keep their values and get no names; any other labels (strings, gaps in
    the integers) become ids in sorted order with their values, as text, as the class names.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise UserError(f"the labels of {where} must be one value per sample, not an array of shape {values.shape}")
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)  # pandas reads an integer column with gaps as floats
    if values.dtype.kind == "f":
        raise UserError(f"the labels of {where} are not class labels (fractional or missing values): give integer or "
                        f"text labels")
    if values.dtype.kind == "O":
        nested = next((i for i, value in enumerate(values) if np.ndim(value) or isinstance(value, (dict, set))), None)
        if nested is not None:
            raise UserError(f"the labels of {where} must be one value per sample, but sample {nested} holds "
                            f"{type(values[nested]).__name__} {_shorten(values[nested])}: give one class per sample")
        if any(value is None or value != value for value in values):  # None or NaN: a missing label
            raise UserError(f"{where} has samples without a label: drop them or give them one")
        values = values.astype(str)
    try:
        classes, ids = np.unique(values, return_inverse=True)
    except TypeError as error:
        raise UserError(f"the labels of {where} cannot be sorted into classes: {error}") from None
    ids = torch.from_numpy(ids.reshape(-1).astype(np.int64))
    if values.dtype.kind in "iu" and np.array_equal(classes, np.arange(len(classes))):
        return ids, len(classes), None
    return ids, len(classes), tuple(str(value) for value in classes)


def _shorten(value: object, limit: int = 40) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else f"{text[:limit]}..."
