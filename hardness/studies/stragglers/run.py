"""`hardness run`: identify stragglers with K seeds and track everything in MLflow.

One parent run per invocation (full resolved config, summary, combined tables) and one child run per
seed (radius curves and training loss as step metrics, inversion epochs, straggler counts and indices), so
seeds sit side by side in the MLflow UI. Training happens inside the parent run: a crash or Ctrl-C ends it
FAILED or KILLED, never FINISHED. Seeds whose training diverged are logged (tagged `hardness.diverged`) but
left out of the summary; when all diverged the parent ends FAILED (exit 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place, to_cpu
from hardness.engine.divergence import report_diverged
from hardness.engine.progress import Progress
from hardness.engine.resources import require_memory
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers.stragglers import StragglerRun, find_stragglers
from hardness.redaction import redact_url
from hardness.studies.common.scoring import score_hard_set
from hardness.studies.common.session import Session, open_session
from hardness.studies.common.tables import (
    build_hard_set_table,
    build_radii_table,
    summarise_inversions,
    summarise_radii,
)
from hardness.studies.export.gallery import build_gallery
from hardness.studies.stragglers.figure import build_radii_figure
from hardness.tracking import schema
from hardness.tracking.payloads import RunPayload, curve_stride, thin_curve


@dataclass(frozen=True)
class StragglerSummary:
    """What `hardness run` reports: run ids, per-class table and totals (None for the seeds that diverged)."""

    parent_run_id: str
    child_run_ids: list[str]
    experiment: str
    tracking_uri: str
    dataset: str
    n_samples: int
    per_class: pd.DataFrame
    straggler_counts: list[int | None]
    inversion_epochs: list[list[int] | None]
    diverged: list[int]
    run: StragglerRun
    prepared: Dataset

    def to_dict(self) -> dict:
        return {
            "parent_run_id": self.parent_run_id, "child_run_ids": self.child_run_ids,
            "experiment": self.experiment, "tracking_uri": self.tracking_uri, "dataset": self.dataset,
            "n_samples": self.n_samples, "straggler_counts": self.straggler_counts,
            "inversion_epochs": self.inversion_epochs, "diverged": self.diverged,
            "per_class": self.per_class.to_dict(orient="records"),
        }


def run_stragglers(config: Config, *, config_file: Path | None = None, progress: Progress | None = None,
                   dataset: Dataset | None = None) -> StragglerSummary:
    """Load data (or take `dataset`, prepared from memory), train config.seeds models at once, find stragglers, log
    parent + child runs."""
    session = open_session(config, dataset=dataset)
    require_memory(config, session.dataset, config.seeds, lever="ask for fewer --seeds or a smaller --subset-size")
    dataset, tracker = session.dataset, session.tracker
    model_seeds = derive_model_seeds(config.seed, config.seeds)
    name = f"stragglers-{dataset.name}-seed{config.seed}"
    with session.run(name, schema.Kind.STRAGGLERS, config_file=config_file) as parent:
        run = to_cpu(find_stragglers(place(dataset, config), config, model_seeds, seed=config.seed, progress=progress))
        with tracker.child_writer(parent) as writer:  # the children are written while the parent's summary is built
            written, hard_tables = [], []
            for k, model_seed in enumerate(model_seeds):
                payload, hard_table = _build_model_run(session, parent, run, k, model_seed)
                written.append(writer.submit(payload))
                hard_tables.append(hard_table)
            _log_loss(session, parent, run)
            report_diverged(run.diverged, "seeds")
            stragglers = pd.concat([table.assign(model=k) for k, table in enumerate(hard_tables)], ignore_index=True)
            converged = run.converged()
            per_class = summarise_inversions(converged.inversion_epoch, converged.hard, dataset.y)
            if dataset.class_names is not None:
                per_class.insert(1, "class_name", dataset.class_names)
            _log_summary(session, parent, converged, per_class)
            if len(converged.hard):
                figure = build_radii_figure(converged, dataset.y, warmup=config.inversion.warmup,
                                            title=f"Class radii ({dataset.name}, {len(converged.hard)} seeds)")
                tracker.log_figure(parent, figure, schema.RADII_FIGURE)
            session.describe(parent, _headline(converged, dataset.n_samples))
            tracker.log_table(parent, stragglers, schema.STRAGGLERS_TABLE)
            tracker.log_table(parent, build_gallery(dataset, schema.BASELINE_IDENTIFIER, converged.hard),
                              schema.GALLERY)
        children = [future.result() for future in written]
    diverged = run.diverged.tolist()
    return StragglerSummary(
        parent, children, config.tracking.experiment, redact_url(tracker.uri), dataset.name, dataset.n_samples, per_class,
        [None if gone else count for gone, count in zip(diverged, run.hard.sum(1).tolist())],
        [None if gone else epochs for gone, epochs in zip(diverged, run.inversion_epoch.tolist())],
        run.diverged.nonzero().flatten().tolist(), run, dataset)


def _headline(run: StragglerRun, n_samples: int) -> str:
    """One line for the run's description: stragglers per seed and how many classes inverted."""
    counts = run.hard.sum(1).float()
    inverted = int((run.inversion_epoch >= 0).sum())
    return (f"{float(counts.mean()):.1f} ± {float(counts.std(correction=0)):.1f} stragglers per seed "
            f"({100 * float(counts.mean()) / n_samples:.1f}% of {n_samples}); {inverted}/{run.inversion_epoch.numel()} "
            f"(seed, class) pairs inverted")


def _build_model_run(session: Session, parent: str, run: StragglerRun, k: int,
                     model_seed: int) -> tuple[RunPayload, pd.DataFrame]:
    """The child run of model k as data: curves, training loss, inversion epochs, straggler counts and indices (the
    table returned too), and whether it diverged."""
    dataset = session.dataset
    params = {**session.config.flat(), "model.index": k, "model.seed": model_seed}
    radii = run.radii[:, k]
    steps = _logged_steps(session, ~torch.isnan(radii).all(1))
    curves = {schema.per_class(schema.RADIUS, c): radii[steps, c].tolist() for c in range(dataset.n_classes)}
    curves[schema.LOSS] = run.loss[steps, k].tolist()
    hard_table = build_hard_set_table(dataset, run.hard[k], inversion_epoch=run.inversion_epoch[k])
    hard_table["attempt"] = run.attempt[k].numpy()[hard_table["label"].to_numpy()]
    payload = session.child(f"seed-{k}", schema.Kind.STRAGGLERS, params=params,
                            tags={schema.GROUP: parent, schema.DIVERGED: str(bool(run.diverged[k])).lower()},
                            series=curves, steps=steps.tolist(),
                            metrics=_model_metrics(dataset, run, k),
                            tables={schema.STRAGGLERS_TABLE: hard_table, schema.RADII_TABLE: build_radii_table(radii)})
    return payload, hard_table


def _logged_steps(session: Session, observed: torch.Tensor) -> torch.Tensor:
    """The epochs whose curve values go to MLflow: of the observed ones [E+1] bool, those tracking.curve_every keeps."""
    epochs = observed.nonzero().squeeze(1)
    stride = curve_stride(session.config.tracking.curve_every, session.config.train.epochs)
    return epochs[thin_curve(epochs.tolist(), stride)]


def _model_metrics(dataset: Dataset, run: StragglerRun, k: int) -> dict[str, float]:
    """Scalar metrics of one model: inversion epochs and attempts (inverted classes), straggler counts."""
    hard = run.hard[k]
    counts = torch.bincount(dataset.y[hard], minlength=dataset.n_classes)
    metrics: dict[str, float] = {schema.STRAGGLER_COUNT: float(hard.sum()),
                                 schema.CLASSES_NOT_INVERTED: float((run.inversion_epoch[k] < 0).sum()),
                                 schema.DIVERGED_COUNT: float(run.diverged[k])}
    if run.diverged[k]:
        metrics[schema.DIVERGED_EPOCH] = float((~torch.isnan(run.loss[:, k])).sum() - 1)
    for c in range(dataset.n_classes):
        metrics[schema.per_class(schema.STRAGGLERS, c)] = float(counts[c])
        if run.inversion_epoch[k, c] >= 0:
            metrics[schema.per_class(schema.INVERSION_EPOCH, c)] = float(run.inversion_epoch[k, c])
            metrics[schema.per_class(schema.INVERSION_ATTEMPT, c)] = float(run.attempt[k, c])
    metrics.update(schema.noise_metrics(score_hard_set(hard, dataset.is_flipped)))
    return metrics


def _log_loss(session: Session, parent: str, run: StragglerRun) -> None:
    """On the parent: the number of diverged models and the mean training loss per epoch over the others (over
    all when every model diverged), as one batch."""
    loss = run.loss[:, ~run.diverged] if not bool(run.diverged.all()) else run.loss
    steps = _logged_steps(session, ~torch.isnan(loss).all(1))
    session.tracker.log_series(parent, {schema.LOSS_MEAN: loss[steps].nanmean(1).tolist()}, steps.tolist())
    session.tracker.log_metrics(parent, {schema.DIVERGED_COUNT: float(run.diverged.sum())})


def _log_summary(session: Session, parent: str, run: StragglerRun, per_class: pd.DataFrame) -> None:
    tracker, dataset = session.tracker, session.dataset
    counts = run.hard.sum(1).float()
    metrics = {"stragglers/count_mean": float(counts.mean()), "stragglers/count_std": float(counts.std(correction=0)),
               "stragglers/union": float(run.hard.any(0).sum()), "n_samples": float(dataset.n_samples),
               schema.CLASSES_NOT_INVERTED: float((run.inversion_epoch < 0).sum())}
    for row in per_class.itertuples():
        if row.not_inverted < len(counts):
            metrics[schema.per_class(schema.INVERSION_EPOCH_MEAN, row[1])] = float(row.inversion_epoch_mean)
        metrics[schema.per_class(schema.STRAGGLERS_MEAN, row[1])] = float(row.stragglers_mean)
    tracker.log_metrics(parent, metrics)
    tracker.log_table(parent, per_class, schema.PER_CLASS)
    tracker.log_table(parent, summarise_radii(run.radii), schema.RADII_SUMMARY)
