"""Copies of the user's data with known injections, scored like the data itself: the calibration set of the verdicts.

Copy r gets every diagnose.image_types at image_rate (the image shrunk and shifted, or replaced) and then every
diagnose.label_types at label_rate (uniform or c -> c+1 flips), with seeds of its own, through the detection
benchmark's injections. Its truth per sample: outlier where the image changed, else label_error where the label
differs from the data's, else clean (the data's own errors, unknown, count as clean here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hardness.catalogue import RECORDING
from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.progress import Progress, staged
from hardness.errors import UserError
from hardness.studies.detect.inject import IMAGE_TYPES, check_injectable, inject
from hardness.studies.diagnose.evidence import Evidence, compute_evidence

LABEL_ERROR, OUTLIER, CLEAN = "label_error", "outlier", "clean"
TRUTH, REPEAT, FLAGGED = "truth", "repeat", "flagged"
"""Columns of the calibration rows beside the features: the injected truth, the copy it comes from, and whether the
zoo flags the sample (Evidence.flagged)."""


def check_calibratable(dataset: Dataset, config: Config) -> None:
    """Refuse (UserError) data diagnose cannot train on (a recording's logits) and injections the data cannot take:
    image changes on samples that are not images."""
    if config.data.name == RECORDING:
        raise UserError("a recording (--dynamics) holds logits, while diagnose trains its own out-of-fold models on "
                        "the samples: give the data itself")
    image_types = config.diagnose.image_types
    if image_types and dataset.image_shape is None:
        raise UserError(f"diagnose.image_types ({', '.join(image_types)}) change images, but {dataset.name} samples "
                        f"are not images: set diagnose.image_types to [] (no outlier verdict is then calibrated)")
    check_injectable(dataset, (*config.diagnose.label_types, *image_types),
                     (config.diagnose.label_rate, *((config.diagnose.image_rate,) if image_types else ())),
                     per_feature=config.data.standardise == "feature")


def copy_seed(seed: int, repeat: int) -> int:
    """The injection seed of copy `repeat`: independent of the base seed's other streams."""
    return int(np.random.SeedSequence([seed, 0xD1A6, repeat]).generate_state(1)[0])


def inject_copy(dataset: Dataset, config: Config, repeat: int) -> tuple[Dataset, np.ndarray]:
    """(copy `repeat` of the data with its injections, truth [N]: LABEL_ERROR, OUTLIER or CLEAN)."""
    seed = copy_seed(config.seed, repeat)
    copy, changed = dataset, torch.zeros(dataset.n_samples, dtype=torch.bool)
    for name in (*config.diagnose.image_types, *config.diagnose.label_types):
        rate = config.diagnose.image_rate if name in IMAGE_TYPES else config.diagnose.label_rate
        injection = inject(copy, name, rate, seed)
        copy = injection.dataset
        if name in IMAGE_TYPES:
            changed |= injection.mask
    flipped = (copy.y != dataset.y).numpy()
    truth = np.where(changed.numpy(), OUTLIER, np.where(flipped, LABEL_ERROR, CLEAN))
    return copy, truth


def calibration_rows(evidence: Evidence, truth: np.ndarray, repeat: int) -> pd.DataFrame:
    """One copy's features with its truth, repeat and flagged columns."""
    return evidence.features().assign(**{TRUTH: truth, REPEAT: repeat, FLAGGED: evidence.flagged})


def calibrate(dataset: Dataset, config: Config, *, progress: Progress | None = None) -> pd.DataFrame:
    """The calibration rows of diagnose.repeats injected copies (calibration_rows), N rows per copy."""
    frames = []
    for repeat in range(config.diagnose.repeats):
        copy, truth = inject_copy(dataset, config, repeat)
        evidence = compute_evidence(copy, config, progress=staged(progress, f"copy {repeat + 1}"))
        frames.append(calibration_rows(evidence, truth, repeat))
    return pd.concat(frames, ignore_index=True)
