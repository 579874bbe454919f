"""A reviewer's corrections read (pure): a CSV of index and label (the review export with corrected_label filled in,
or any file with original_index / index and corrected_label / label columns) or a Label Studio export (JSON, or
JSON_MIN), as the labels that change: original_index, label, corrected_label (class ids)."""

from __future__ import annotations

import io
import json

import pandas as pd

from hardness.errors import UserError
from hardness.studies.export.review import CORRECTED

INDEX_COLUMNS = ("original_index", "index")
LABEL_COLUMNS = (CORRECTED, "label")


def parse_corrections(text: str, suffix: str, where: str) -> pd.DataFrame:
    """The corrections in a file's `text` as original_index (int) and corrected (the label as written, a class name
    or id); rows without a corrected label are left out."""
    found = _parse_label_studio(text, where) if suffix == ".json" else _parse_csv(text, where)
    found = found[found["corrected"].astype(str).str.strip() != ""]
    return found.assign(corrected=found["corrected"].astype(str).str.strip()).reset_index(drop=True)


def _parse_csv(text: str, where: str) -> pd.DataFrame:
    """A CSV's index column and label column, as text."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    index = next((c for c in INDEX_COLUMNS if c in frame), None)
    label = next((c for c in LABEL_COLUMNS if c in frame), None)
    if index is None or label is None:
        raise UserError(f"{where} needs an index column ({' or '.join(INDEX_COLUMNS)}) and a label column "
                        f"({' or '.join(LABEL_COLUMNS)}); it has {', '.join(frame.columns)}")
    return pd.DataFrame({"original_index": _indices(frame[index], where), "corrected": frame[label]})


def _parse_label_studio(text: str, where: str) -> pd.DataFrame:
    """Label Studio's JSON export (tasks with annotations: the last one not cancelled counts) or JSON_MIN (one flat
    record per task, the choice under corrected_label)."""
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{where} is not valid JSON: {error}") from None
    if not isinstance(tasks, list):
        raise UserError(f"{where} is not a Label Studio export (a list of tasks)")
    rows = []
    for task in tasks:
        data = task.get("data", task)
        choice = _annotated(task) if "annotations" in task else task.get(CORRECTED)
        if isinstance(choice, dict):
            choice = (choice.get("choices") or [""])[0]
        if choice and "original_index" in data:
            rows.append((data["original_index"], choice))
    frame = pd.DataFrame(rows, columns=["original_index", "corrected"])
    return frame.assign(original_index=_indices(frame["original_index"], where))


def _annotated(task: dict) -> str | None:
    """The choice of the task's last annotation that was not cancelled, if it made one."""
    for annotation in reversed(task["annotations"]):
        if annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result", []):
            if result.get("from_name") == CORRECTED and result.get("value", {}).get("choices"):
                return result["value"]["choices"][0]
    return None


def _indices(values: pd.Series, where: str) -> pd.Series:
    """Original indices as ints; anything but a whole number is a UserError."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers != numbers.round())
    if bad.any():
        raise UserError(f"{where}: original indices must be whole numbers, not {values[bad].iloc[0]!r}")
    return numbers.astype(int)


def plan_corrections(corrections: pd.DataFrame, samples: pd.DataFrame, class_names: tuple[str, ...],
                     where: str) -> pd.DataFrame:
    """The labels that change: original_index, label (now) and corrected_label (class ids), in original-index order.
    A label names a class by name (class ids are their names when the data has none); a sample named twice takes its
    last correction; an unknown sample or class is a UserError."""
    lookup = {name: c for c, name in enumerate(class_names)}
    corrections = corrections.assign(corrected=corrections["corrected"].map(lambda value: _as_name(value, lookup)))
    unknown = sorted(set(corrections["corrected"]) - set(lookup))
    if unknown:
        raise UserError(f"{where} names classes the data does not have: {', '.join(unknown[:5])} (classes: "
                        f"{', '.join(class_names[:20])})")
    current = samples.set_index("original_index")["label"]
    missing = sorted(set(corrections["original_index"]) - set(current.index))
    if missing:
        raise UserError(f"{where} names samples the run does not have: {', '.join(map(str, missing[:5]))}")
    last = corrections.drop_duplicates("original_index", keep="last")
    plan = pd.DataFrame({"original_index": last["original_index"].to_numpy(),
                         "label": current.reindex(last["original_index"]).to_numpy(),
                         "corrected_label": last["corrected"].map(lookup).to_numpy()})
    return plan[plan["label"] != plan["corrected_label"]].sort_values("original_index").reset_index(drop=True)


def _as_name(value: str, lookup: dict[str, int]) -> str:
    """A label as a class name: '4.0' (a spreadsheet's rendering of 4) reads as '4' when only that is a name."""
    if value in lookup:
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() and str(int(number)) in lookup else value
