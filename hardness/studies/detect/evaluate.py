"""One detect unit: every identifier on one injected dataset, its hard sets thresholded, its detection scored.

The identifiers run with the study's shared model seeds (hardness.studies.identify), so seed k of every identifier
and of every unit starts from the same initialisation. Under `like_stragglers` thresholds the stragglers of the
injected data are identified once and set every score identifier's count. No tracking here.
"""

from __future__ import annotations

import pandas as pd

from hardness.config import Config
from hardness.engine.divergence import report_diverged
from hardness.engine.progress import Progress, staged
from hardness.identifiers import BASELINE
from hardness.identifiers.identify import HardSets, identify, threshold_identification
from hardness.studies.detect.inject import Injection
from hardness.studies.detect.measures import build_detection_rows


def evaluate_injection(injection: Injection, config: Config, names: list[str], *,
                       progress: Progress | None = None) -> pd.DataFrame:
    """Rows [identifier, scope, seed, DETECT_MEASURES..., hard_count] of every identifier in `names` (in order) on the
    injected dataset, thresholded by config.threshold."""
    dataset, k = injection.dataset, config.seeds
    found = {}
    reference: HardSets | None = None
    if config.threshold.method == "like_stragglers":
        found[BASELINE] = identify(dataset, config, BASELINE, k, progress=staged(progress, BASELINE))
        reference = threshold_identification(dataset, config, found[BASELINE])
    frames = []
    for name in names:
        identification = found.get(name) or identify(dataset, config, name, k, progress=staged(progress, name))
        sets = threshold_identification(dataset, config, identification, reference=reference)
        report_diverged(sets.diverged, f"{name} models ({injection.type} at {injection.rate:g})")
        rows = build_detection_rows(identification.ranking, sets.hard, ~sets.diverged, injection.mask)
        frames.append(rows.assign(identifier=name))
    table = pd.concat(frames, ignore_index=True)
    return table[["identifier", *[c for c in table.columns if c != "identifier"]]]
