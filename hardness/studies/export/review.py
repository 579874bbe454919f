"""The review formats of `hardness export` (pure): a spreadsheet CSV of the samples worth a look, hardest first, with
an empty corrected_label column to fill in, and the same rows as Label Studio tasks whose pre-annotation is the
suggested label (else the current one), with the labeling config that shows them. `hardness relabel` reads back both
the filled CSV and Label Studio's export."""

from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import pandas as pd
import torch

from hardness.datasets.prepare import Dataset
from hardness.studies.datamap.thumbnails import png_data_uri, summarise_features, to_pixels
from hardness.studies.datamap.verdicts import EASY, build_review_table, order_hardest

REVIEW, LABEL_STUDIO = "review", "label-studio"
EXTENSIONS = {REVIEW: "csv", LABEL_STUDIO: "json"}
CORRECTED = "corrected_label"
"""The column (and Label Studio control) that holds a reviewer's label: the class name, or its id without names."""
FULL_SIZE = 4096


def build_review_rows(table: pd.DataFrame, class_names: tuple[str, ...], *, chosen: bool) -> pd.DataFrame:
    """The review table's rows hardest first: every row of `table` when the user `chosen` them (--verdict,
    --min-agreement), else those with a verdict other than easy; with the suggested class's name and an empty
    corrected_label."""
    review = build_review_table(table)
    review = review.iloc[order_hardest(review)]
    if not chosen:
        review = review[review["verdict"] != EASY]
    names = pd.Series(list(class_names))
    review = review.assign(label_name=names.reindex(review["label"]).to_numpy(),
                           suggested_name=names.reindex(review["suggested_label"]).fillna("").to_numpy())
    review[CORRECTED] = ""
    first = [c for c in ("original_index", "path", "label", "label_name", "verdict", "suggested_label",
                         "suggested_name", CORRECTED) if c in review]
    return review[first + [c for c in review.columns if c not in first]].reset_index(drop=True)


def build_tasks(rows: pd.DataFrame, dataset: Dataset, class_names: tuple[str, ...], model_version: str) -> list[dict]:
    """One Label Studio task per row: the image as a PNG data URI (or, for a table, its most unusual features), the
    sample's reference and verdict as data fields, and a prediction choosing the suggested (else current) label."""
    positions = torch.from_numpy(pd.Index(dataset.index.numpy()).get_indexer(rows["original_index"]))
    x = dataset.x[positions].cpu()
    if dataset.image_shape is not None:
        bounds = (float(dataset.x.min()), float(dataset.x.max()))
        pixels = to_pixels(x, dataset.image_shape, bounds=bounds, max_side=FULL_SIZE)
        shown = {"image": [png_data_uri(image) for image in pixels]}
    else:
        shown = {"features": summarise_features(x, dataset.feature_names, top=6)}
    tasks = []
    for k, row in enumerate(rows.itertuples(index=False)):
        suggested = int(row.suggested_label)
        choice = class_names[suggested if suggested >= 0 else int(row.label)]
        data = {**{key: values[k] for key, values in shown.items()}, "original_index": int(row.original_index),
                "label": class_names[int(row.label)], "verdict": row.verdict,
                "suggested_label": class_names[suggested] if suggested >= 0 else ""}
        if isinstance(getattr(row, "path", None), str):
            data["path"] = row.path
        score = getattr(row, "suggested_label_prob", None)
        prediction = {"model_version": model_version, "result": [
            {"from_name": CORRECTED, "to_name": "sample", "type": "choices", "value": {"choices": [choice]}}]}
        if score is not None and pd.notna(score):
            prediction["score"] = float(score)
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


def build_label_config(class_names: tuple[str, ...], *, images: bool) -> str:
    """The Label Studio labeling config for build_tasks' tasks: the sample, its label and verdict, one choice per
    class."""
    sample = ('<Image name="sample" value="$image" zoom="true"/>' if images
              else '<Text name="sample" value="$features"/>')
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
    return (f"<View>\n  {sample}\n  <Header value=\"sample $original_index: label $label, verdict $verdict, "
            f"suggested $suggested_label\"/>\n  <Choices name=\"{CORRECTED}\" toName=\"sample\" choice=\"single\" "
            f"showInline=\"true\">\n{choices}\n  </Choices>\n</View>\n")


def dump_tasks(tasks: list[dict]) -> str:
    """The tasks as the JSON file Label Studio imports."""
    return json.dumps(tasks, indent=1)


def class_names_of(table: pd.DataFrame) -> tuple[str, ...]:
    """Each class id's name as the table's class_name column gives it, else the id itself ('0', '1', ...)."""
    n_classes = int(table["label"].max()) + 1
    if "class_name" not in table:
        return tuple(str(c) for c in range(n_classes))
    named = table.drop_duplicates("label").set_index("label")["class_name"]
    return tuple(str(named.get(c, c)) for c in range(n_classes))
