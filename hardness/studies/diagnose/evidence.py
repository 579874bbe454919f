"""What the identifier zoo says about one dataset: each identifier's scores and flags over the seeds, and every
sample's out-of-fold class probabilities (cleanlab's cross-validation models, none of which trained on that sample).

The same function scores the user's data and each injected copy, so the verdict models read the same evidence on
both. Training happens here; no tracking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hardness.config import Config, ThresholdConfig
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place
from hardness.engine.divergence import diverged_of, report_diverged
from hardness.engine.progress import Progress, staged
from hardness.engine.seeds import derive_model_seeds
from hardness.errors import UserError
from hardness.identifiers import Identification
from hardness.identifiers.confident_learning import compute_out_of_fold, find_label_issues
from hardness.identifiers.hardsets import compute_hard_sets
from hardness.identifiers.identify import group_shared_fits, identify_together

CLEANLAB = "cleanlab"
"""The identifier whose cross-validation models give the out-of-fold probabilities."""
PROBABILITY_FEATURES = ("oof_given", "oof_other", "oof_entropy")
"""Features read from the out-of-fold probabilities: of the given label, of the likeliest other class, the entropy
(divided by log C)."""


@dataclass(frozen=True)
class Evidence:
    """N samples as the zoo sees them: per identifier the mean score over the kept seeds [N] (higher = harder) and
    the share of kept seeds flagging the sample [N]; labels [N]; out-of-fold probabilities [N, C], mean over seeds."""

    scores: dict[str, np.ndarray]
    agreement: dict[str, np.ndarray]
    labels: np.ndarray
    pred_probs: np.ndarray

    def features(self) -> pd.DataFrame:
        """The verdict models' inputs [N, F]: every identifier's score and the PROBABILITY_FEATURES."""
        probs = self.pred_probs
        rows = np.arange(len(self.labels))
        given = probs[rows, self.labels]
        others = probs.copy()
        others[rows, self.labels] = -np.inf
        entropy = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(1) / np.log(probs.shape[1])
        frame = pd.DataFrame({f"{name}_score": values for name, values in self.scores.items()})
        return frame.assign(oof_given=given, oof_other=others.max(1), oof_entropy=entropy)

    @property
    def flagged(self) -> np.ndarray:
        """Samples that a majority of some identifier's seeds flag [N] bool: hard in the zoo's eyes."""
        return np.max(np.stack(list(self.agreement.values())), axis=0) >= 0.5


def compute_evidence(dataset: Dataset, config: Config, *, progress: Progress | None = None) -> Evidence:
    """The evidence of config.diagnose.identifiers over config.seeds seeds (cleanlab's F models per seed among them);
    models that diverged are left out, and all of an identifier's diverging is a UserError."""
    placed = place(dataset, config)
    seeds = derive_model_seeds(config.seed, config.seeds)
    pred_probs, diverged = compute_out_of_fold(placed, config, seeds, progress=staged(progress, CLEANLAB))
    pred_probs = pred_probs.cpu()
    scores, _ = find_label_issues(dataset.y, pred_probs)
    found = {CLEANLAB: (Identification(CLEANLAB, scores, None), diverged.cpu())}
    others = [name for name in config.diagnose.identifiers if name != CLEANLAB]
    for group in group_shared_fits(config, others):
        for name, identification in identify_together(dataset, config, group, config.seeds,
                                                      progress=staged(progress, "+".join(group))).items():
            found[name] = identification, diverged_of(identification.details, config.seeds, "cpu")
    quantile = ThresholdConfig(method="quantile", quantile=config.diagnose.hard_quantile)
    means, agreement = {}, {}
    for name in config.diagnose.identifiers:
        identification, left_out = found[name]
        report_diverged(left_out, f"{name} models")
        if bool(left_out.all()):
            raise UserError(f"every {name} model diverged: lower train.lr")
        kept = ~left_out
        ranking = identification.ranking.double()[kept]
        flags = (identification.hard if identification.scores is None
                 else compute_hard_sets(identification, dataset.y, dataset.n_classes, quantile))[kept]
        means[name] = ranking.mean(0).numpy()
        agreement[name] = flags.double().mean(0).numpy()
    kept = ~found[CLEANLAB][1]
    return Evidence(means, agreement, dataset.y.numpy(), pred_probs[kept].double().mean(0).numpy())
