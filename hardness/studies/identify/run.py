"""`hardness identify`: run one identifier with K seeds, threshold it, and log scores and hard sets."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hardness.catalogue import RECORDING
from hardness.config import Config, ThresholdConfig
from hardness.datasets.prepare import Dataset
from hardness.engine.divergence import report_diverged
from hardness.engine.progress import Progress
from hardness.engine.resources import require_memory
from hardness.errors import UserError
from hardness.identifiers import Identification, get_identifier
from hardness.identifiers.hardsets import check_threshold
from hardness.identifiers.identify import HardSets, count_table, identify, threshold_identification
from hardness.identifiers.recorder import IDENTIFIERS as RECORDED
from hardness.identifiers.recorder import identify_recording
from hardness.identifiers.thresholds import count_per_class
from hardness.studies.common.scoring import score_hard_set, score_ranking
from hardness.studies.common.session import open_session
from hardness.studies.common.tables import build_hard_set_table, build_score_table
from hardness.studies.datamap.run import log_datamap
from hardness.studies.export.gallery import build_gallery
from hardness.tracking import schema


@dataclass(frozen=True)
class IdentifySummary:
    """Per-seed hard-set sizes and per-class counts of one identifier, with its MLflow run."""

    parent_run_id: str
    identifier: str
    counts: pd.DataFrame
    noise: pd.DataFrame
    identification: Identification
    sets: HardSets
    prepared: Dataset

    def to_dict(self) -> dict:
        return {"parent_run_id": self.parent_run_id, "identifier": self.identifier,
                "counts": self.counts.to_dict(orient="records"), "noise": self.noise.to_dict(orient="records")}


def check_recorded(name: str, threshold: ThresholdConfig) -> None:
    """A recording answers only the identifiers of logits, and no threshold that needs a training of ours."""
    if name not in RECORDED:
        raise UserError(f"a recording (--dynamics) holds logits, which {name} does not read: choose one of "
                        f"{', '.join(RECORDED)}")
    if threshold.method in ("like_stragglers", "own"):
        raise UserError(f"threshold.method {threshold.method} needs a training of ours; a recording takes top_k or "
                        f"quantile (--set threshold.method=quantile)")


def run_identify(config: Config, *, progress: Progress | None = None, dataset: Dataset | None = None) -> IdentifySummary:
    """Identify hard samples with config.identifier over config.seeds seeds; log scores, sets and counts. `dataset`:
    data prepared from memory (the Python API) instead of config.data."""
    name = config.identifier.name
    get_identifier(name)
    check_threshold([name], config.threshold)
    recorded = config.data.name == RECORDING
    if recorded:
        check_recorded(name, config.threshold)
    session = open_session(config, dataset=dataset)
    if not recorded:
        require_memory(config, session.dataset, config.seeds, lever="ask for fewer --seeds or a smaller --subset-size")
    dataset, tracker = session.dataset, session.tracker
    with session.run(f"identify-{name}-{dataset.name}", schema.Kind.IDENTIFY, identifier=name) as parent:
        identification = (identify_recording(dataset, config, name) if recorded
                          else identify(dataset, config, name, config.seeds, progress=progress))
        sets = threshold_identification(dataset, config, identification)
        report_diverged(sets.diverged, f"{name} models")
        seeds, hard_sets = (~sets.diverged).nonzero().flatten().tolist(), sets.kept
        ranking = identification.ranking
        noise = pd.DataFrame([{"seed": k, **schema.noise_metrics(score_hard_set(row, dataset.is_flipped)
                                                                 | score_ranking(ranking[k], dataset.is_flipped))}
                              for k, row in zip(seeds, hard_sets)])
        for k, row in zip(seeds, hard_sets):
            scores = None if identification.scores is None else identification.scores[k]
            table = build_hard_set_table(dataset, row, scores=scores)
            tracker.log_table(parent, table, schema.hard_set_table(k))
        scores = None if identification.scores is None else identification.scores[seeds]
        if scores is not None:
            tracker.log_table(parent, build_score_table(dataset, scores, seeds), schema.SCORES)
        tracker.log_table(parent, build_gallery(dataset, name, hard_sets, scores), schema.GALLERY)
        class_counts = count_per_class(hard_sets, dataset.y, dataset.n_classes)
        counts = count_table(class_counts, seeds)
        tracker.log_table(parent, counts, schema.COUNTS_PER_CLASS)
        sizes = hard_sets.sum(1).float()
        metrics = {"hard/count_mean": float(sizes.mean()), "hard/count_std": float(sizes.std(correction=0)),
                   schema.DIVERGED_COUNT: float(sets.diverged.sum())}
        metrics |= {f"hard/class_{c}": float(v) for c, v in enumerate(class_counts.float().mean(0))}
        if not noise.drop(columns="seed").empty:
            metrics |= {f"{k}_mean": float(v) for k, v in noise.drop(columns="seed").mean().items()}
            for row in noise.to_dict(orient="records"):  # the ranking measures also per seed, as steps
                ranked = {k: row[k] for k in (schema.NOISE_AUROC, schema.NOISE_AUPRC) if k in row}
                tracker.log_metrics(parent, ranked, step=row["seed"])
        tracker.log_metrics(parent, metrics)
        if config.tracking.datamap:
            log_datamap(tracker, parent, dataset)
        session.describe(parent, f"{name}: {metrics['hard/count_mean']:.1f} ± {metrics['hard/count_std']:.1f} hard "
                                 f"samples per seed of {dataset.n_samples}")
    return IdentifySummary(parent, name, counts, noise, identification, sets, dataset)
