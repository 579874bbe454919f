"""The data map as one self-contained HTML page (pure): plotly.js inlined from the plotly package, the samples as
embedded JSON, and a short script (page.js) for filters, hover and gallery. Review table in, HTML text out."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from importlib import resources
from string import Template

import numpy as np
import pandas as pd
import torch

from hardness.datasets.prepare import Dataset
from hardness.studies.datamap.thumbnails import pack_thumbnails, summarise_features
from hardness.studies.datamap.verdicts import order_hardest, pick_gallery, score_columns
from hardness.studies.export.table import AGREEMENT, SCORE
from hardness.tracking import schema

COLOURS = ("verdict", "hard", "class")
PER_VERDICT = 16
"""Gallery tiles per verdict."""
DISCRETE = 25
"""An axis with at most this many distinct values (agreement, class) is jittered so its points do not pile up."""
CONFIDENCE, VARIABILITY = "confidence", "variability"
THUMBNAIL_BYTES = 8_000_000
"""Pixels the page holds at most (about 10,000 MNIST thumbnails, the hardest first): it stays near 20 MB."""


@dataclass(frozen=True)
class Thumbnails:
    """Packed 8-bit thumbnails: their shape (C, h, w), the pixels back to back, each sample's slot [N] (-1: none)."""

    shape: tuple[int, ...]
    pixels: bytes
    slots: np.ndarray


def build_axes(review: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns the map can plot: data maps' confidence and variability when the run has both identifiers, each
    identifier's mean score and agreement, and the class."""
    axes: dict[str, np.ndarray] = {}
    if "datamaps_score" in review and "datamaps_variability_score" in review:
        axes[VARIABILITY] = review["datamaps_variability_score"].to_numpy(dtype=float)
        axes[CONFIDENCE] = -review["datamaps_score"].to_numpy(dtype=float)
    for column in [*score_columns(review), *(c for c in review.columns if c.endswith(AGREEMENT))]:
        axes[column] = review[column].to_numpy(dtype=float)
    axes["label"] = review["label"].to_numpy(dtype=float)
    return axes


def default_axes(axes: dict[str, np.ndarray]) -> tuple[str, str]:
    """(x, y): variability and confidence when there, else the first two scores, else a score (or agreement) against
    the class."""
    names = list(axes)
    if VARIABILITY in axes:
        return VARIABILITY, CONFIDENCE
    scores = [name for name in names if name.endswith(SCORE)]
    if len(scores) >= 2:
        return scores[0], scores[1]
    first = scores[0] if scores else names[0]
    agreement = first.removesuffix(SCORE) + AGREEMENT
    return first, agreement if scores and agreement in axes else "label"


def compute_jitter(values: np.ndarray) -> float:
    """Jitter width for a discrete axis (0.6 of the smallest step between its values), 0 for a continuous one."""
    distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) > DISCRETE:
        return 0.0
    return 0.6 * float(np.diff(distinct).min()) if len(distinct) > 1 else 0.3


def _listed(values: np.ndarray) -> list[float | None]:
    """Floats to 5 significant digits for JSON, NaN as null."""
    return [float(f"{v:.5g}") if np.isfinite(v) else None for v in values.tolist()]


def build_payload(review: pd.DataFrame, class_names: tuple[str, ...], *, thumbnails: Thumbnails | None = None,
                  features: list[str] | None = None, x: str | None = None, y: str | None = None,
                  color: str = "verdict", per_verdict: int = PER_VERDICT) -> dict:
    """What page.js reads: per sample its index, label, suggested label, verdict (code into `verdicts`), straggler
    flag and plotted columns; the gallery's rows per verdict; thumbnails or feature summaries."""
    axes = build_axes(review)
    fallback = default_axes(axes)
    for name, axis in (("x", x), ("y", y)):
        if axis is not None and axis not in axes:
            raise ValueError(f"{name} axis {axis!r} is not one of this run's columns: {', '.join(axes)}")
    if color not in COLOURS:
        raise ValueError(f"colour {color!r} is not one of {', '.join(COLOURS)}")
    present = [v for v in schema.VERDICTS if (review["verdict"] == v).any()]
    labels = {name: name.replace(SCORE, " score").replace(AGREEMENT, " agreement") for name in axes}
    return {
        "index": review["original_index"].tolist(), "label": review["label"].astype(int).tolist(),
        "suggested": review["suggested_label"].astype(int).tolist(),
        "verdict": review["verdict"].map({v: i for i, v in enumerate(present)}).astype(int).tolist(),
        "verdicts": present, "straggler": review["straggler"].astype(int).tolist(),
        "class_names": list(class_names), "columns": {name: _listed(values) for name, values in axes.items()},
        "jitter": {name: compute_jitter(values) for name, values in axes.items()}, "labels": labels,
        "axes": {"x": x or fallback[0], "y": y or fallback[1]}, "color": color,
        "gallery": pick_gallery(review, per_verdict), "features": features,
        "thumbs": None if thumbnails is None else {"shape": list(thumbnails.shape), "slot": thumbnails.slots.tolist(),
                                                   "data": base64.b64encode(thumbnails.pixels).decode()},
    }


def build_page(payload: dict, *, title: str, subtitle: str) -> str:
    """The self-contained HTML page of a payload (build_payload): no request leaves it when it is opened."""
    folder = resources.files("hardness.studies.datamap")
    plotly_js = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return Template(folder.joinpath("page.html").read_text(encoding="utf-8")).substitute(
        title=html.escape(title), subtitle=html.escape(subtitle), n=len(payload["index"]),
        plotly=plotly_js.replace("</script", "<\\/script"), data=data,
        script=folder.joinpath("page.js").read_text(encoding="utf-8"))


def render_page(review: pd.DataFrame, dataset: Dataset, *, title: str, subtitle: str, x: str | None = None,
                y: str | None = None, color: str = "verdict", thumbnail_bytes: int = THUMBNAIL_BYTES) -> str:
    """The page of a review table (build_review_table) over the prepared `dataset` its rows come from: images get
    thumbnails (the hardest first, within `thumbnail_bytes`), tables a summary of their most unusual features."""
    positions = torch.from_numpy(pd.Index(dataset.index.numpy()).get_indexer(review["original_index"]))
    x_rows = dataset.x[positions].cpu()
    thumbnails = features = None
    if dataset.image_shape is not None:
        thumbnails = Thumbnails(*pack_thumbnails(x_rows, dataset.image_shape, order_hardest(review), thumbnail_bytes))
    else:
        features = summarise_features(x_rows, dataset.feature_names)
    names = dataset.class_names or tuple(str(c) for c in range(dataset.n_classes))
    payload = build_payload(review, names, thumbnails=thumbnails, features=features, x=x, y=y, color=color)
    return build_page(payload, title=title, subtitle=subtitle)
