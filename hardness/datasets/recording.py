"""The file of a hardness.Recorder recording (.npz, no pickles): its arrays and metadata, and the recording as a
source whose samples are the recorded labels (no features: the identifiers read its logits, nothing trains)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from hardness.config import DataConfig
from hardness.datasets.raw import RawData, source_path
from hardness.errors import UserError

FORMAT = "hardness-recording/1"


def write_recording(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write a recording next to `path` and move it in place, so a failed write leaves no partial file."""
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez_compressed(tmp, meta=np.array(json.dumps({"format": FORMAT, **meta})), **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_recording_file(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a recording; anything else is one line naming the file."""
    try:
        with np.load(Path(path), allow_pickle=False) as found:
            arrays = {key: found[key] for key in found.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read the recording {path}: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a hardness recording ({FORMAT}): write one with hardness.Recorder.save")
    return meta, arrays


def read_recording(config: DataConfig) -> RawData:
    """The recorded samples: labels [N] and positions, no features; a sample never observed has no label."""
    path = source_path(config)
    meta, arrays = read_recording_file(path)
    labels = torch.from_numpy(arrays["labels"].astype(np.int64))
    if bool((labels < 0).any()):
        raise UserError(f"the recording {path} never observed {int((labels < 0).sum())} of its {len(labels)} samples: "
                        f"every sample needs a label from Recorder.update")
    return RawData(torch.zeros(len(labels), 0), labels, torch.arange(len(labels)), int(meta["n_classes"]))
