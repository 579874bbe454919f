"""`hardness search`: an Optuna study over an identifier's settings, every trial tracked in MLflow.

The objective and its search space live in `objective.py` (pure), the Optuna plumbing in `study.py`; this
module adds the tracking. Objective: maximise the easy-minus-hard test accuracy gap; a constraint
keeps the hard fraction within [search.min_hard_fraction, search.max_hard_fraction] so that tiny sets
of mislabeled points cannot win (see objective.py). Clearly bad trials are pruned (median rule over
the gap after each hard set).

Storage: Optuna's own database (never the MLflow one), by default `optuna.db` beside the MLflow SQLite
store; any database URL Optuna supports works, so processes and machines can share one study. The study
remembers its MLflow parent run (study user attr `mlflow_parent_run_id`) and its config, so every
worker and every rerun with the same study name logs under one parent, and a rerun with a different
setup is refused instead of mixing trials. Each trial is a child run; its id is the trial user attr
`mlflow_run_id`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from hardness.config import Config
from hardness.engine.progress import Progress
from hardness.engine.resources import grid_models, require_memory
from hardness.identifiers import get_identifier
from hardness.interrupts import deferred_signals, immediate_signals
from hardness.redaction import redact_url, url_digest
from hardness.studies.common.session import open_session
from hardness.studies.search.objective import SearchProblem, compute_constraints, objective, precompute
from hardness.studies.search.study import (
    RUN_ID_ATTR,
    check_study_config,
    open_storage,
    open_study,
    silence_interrupted_trials,
    trials_frame,
)
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker

PARENT_ATTR = "mlflow_parent_run_id"
PARENT_WAIT_S = 120.0
"""How long a worker that joins a brand-new study waits for its creator to record the parent run."""


@dataclass(frozen=True)
class SearchSummary:
    """The study's trials (one row each, all workers) and where they are tracked."""

    parent_run_id: str
    study_name: str
    storage: str
    trials: pd.DataFrame
    ran: int

    def best(self, n: int = 5) -> pd.DataFrame:
        """The n best feasible complete trials, best first."""
        done = self.trials[(self.trials["state"] == "COMPLETE") & self.trials["feasible"]]
        return done.sort_values("value", ascending=False).head(n).reset_index(drop=True)

    def to_dict(self) -> dict:
        states = self.trials["state"].value_counts().to_dict() if len(self.trials) else {}
        return {"parent_run_id": self.parent_run_id, "study_name": self.study_name, "storage": self.storage,
                "n_trials": len(self.trials), "ran_here": self.ran, "states": states,
                "best": self.best().to_dict(orient="records")}


def default_storage(tracker: Tracker) -> str:
    """sqlite:///<folder of the MLflow SQLite store>/optuna.db, else sqlite:///<abs ./mlruns>/optuna.db."""
    folder = tracker.db_path.parent if tracker.db_path is not None else Path("mlruns").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def find_parent_run(tracker: Tracker, study: optuna.Study, key: str, *, created: bool) -> str | None:
    """The study's MLflow parent run in this store, or None when this worker should start it.

    Looked up by resume tag; a worker joining a study that another just created waits for the
    creator to record the parent's id in the study, so simultaneous workers share one parent.
    """
    found = tracker.find_run_by_tag(schema.RESUME_KEY, key)
    if found is not None or created:
        return found
    deadline = time.monotonic() + PARENT_WAIT_S
    while True:
        recorded = study.user_attrs.get(PARENT_ATTR)
        if recorded is not None:
            return recorded if tracker.has_run(recorded) else None  # recorded in another MLflow store
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def run_search(config: Config, *, progress: Progress | None = None, pruner: optuna.pruners.BasePruner | None = None,
               callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = ()) -> SearchSummary:
    """Open (or join) the study, precompute the identification once, run search.trials trials (fewer when the study
    reaches search.study_trials), log the best; `callbacks` see every trial this process ends. This process is one worker:
    `hardness.studies.search.workers.search` starts several when search.workers > 1."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = config.identifier.name
    get_identifier(name)
    session = open_session(config, default_threads=1)  # workers usually run side by side: one thread each
    require_memory(config, session.dataset, max(config.imbalance.hard_sets, grid_models(config, 1)),
                   lever="lower --hard-sets, imbalance.inits or imbalance.models_per_batch")
    tracker, dataset = session.tracker, session.dataset
    storage_url = config.search.storage or default_storage(tracker)
    storage = open_storage(storage_url, reserved=tracker.db_path, on_stale_run=lambda run: _fail_run(tracker, run))
    study_name = config.search.study_name or f"{name}-{dataset.name}-{dataset.fingerprint[:8]}"
    study, created = open_study(storage, study_name, seed=config.seed, pruner=pruner)
    check_study_config(study, config)
    key = f"search|{url_digest(storage_url)}|{study_name}"  # a digest: the URL may hold a password
    study_tags = {schema.STUDY_NAME: study_name, schema.STUDY_STORAGE: redact_url(storage_url),
                  schema.STUDY_DIRECTION: "maximize"}
    existing = find_parent_run(tracker, study, key, created=created)
    silence_interrupted_trials()
    with session.run(f"search-{study_name}", schema.Kind.SEARCH, identifier=name, key=key, resume_run_id=existing,
                     tags=study_tags, worker=uuid.uuid4().hex[:12]) as parent:
        if study.user_attrs.get(PARENT_ATTR) is None or created:
            study.set_user_attr(PARENT_ATTR, parent)
        cap = config.search.study_trials
        n_trials = config.search.trials if cap is None else min(config.search.trials, max(0, cap - len(study.trials)))
        problem = precompute(dataset, config, progress=progress) if n_trials else None
        trial_tags = {schema.KIND: str(schema.Kind.SEARCH), schema.IDENTIFIER: name, schema.STUDY_NAME: study_name}

        def tracked(trial: optuna.Trial) -> float:
            return _run_tracked_trial(trial, problem, tracker, parent, trial_tags)

        done = 0

        def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, n_trials, f"trial {trial.number} {trial.state.name.lower()}, best {_best_value(study)}")

        if progress is not None:
            progress(0, n_trials, "trials")
        # the cap counts trials in any state, also those other workers are running
        capped = [] if cap is None else [optuna.study.MaxTrialsCallback(cap, states=None)]
        with deferred_signals():  # a stop signal interrupts a trial's training, never Optuna's storage writes
            study.optimize(tracked, n_trials=n_trials, callbacks=[after_trial, *capped, *callbacks])
        trials = trials_frame(study)
        log_study(tracker, parent, study, trials)
    return SearchSummary(parent, study_name, redact_url(storage_url), trials, done)


def _fail_run(tracker: Tracker, run_id: str) -> None:
    """End the MLflow run of a trial whose worker died (Optuna found its heartbeat stale)."""
    if tracker.has_run(run_id):
        tracker.end_run(run_id, "FAILED")


def _run_tracked_trial(trial: optuna.Trial, problem: SearchProblem, tracker: Tracker, parent: str,
                       tags: dict[str, str]) -> float:
    """The objective inside a child run; a pruned trial ends KILLED with hardness.pruned=true (not FAILED)."""
    child = None

    def on_step(step: int, gap: float, mean: float) -> None:
        tracker.log_metrics(child, {"gap/hard_set": gap, schema.objective_metric("gap"): mean}, step=step)

    status, pruned = "FAILED", False
    try:
        with deferred_signals():  # a stop signal while the run is created waits until `finally` can end it KILLED
            child = tracker.start_run(f"trial-{trial.number}", parent_run_id=parent,
                                      tags={**tags, schema.TRIAL_NUMBER: str(trial.number)})
            trial.set_user_attr(RUN_ID_ATTR, child)
        with immediate_signals():
            value = objective(trial, problem, on_step=on_step)
        status = "FINISHED"
        return value
    except optuna.TrialPruned:
        status, pruned = "KILLED", True
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if child is not None:
            with deferred_signals():
                _end_trial_run(tracker, child, trial, problem, status, pruned)


def _end_trial_run(tracker: Tracker, child: str, trial: optuna.Trial, problem: SearchProblem, status: str,
                   pruned: bool) -> None:
    """A trial's params, attributes, constraints and pruned/feasible tags, then the end of its run."""
    if trial.params:
        tracker.log_params(child, trial.params)
    attrs = {k: float(v) for k, v in trial.user_attrs.items() if isinstance(v, (int, float))}
    fraction = trial.user_attrs.get(schema.HARD_FRACTION)
    constraints = {} if fraction is None else compute_constraints(fraction, problem.config.search)
    tracker.log_metrics(child, attrs | {f"constraint/{k}": v for k, v in constraints.items()})
    feasible = bool(constraints) and max(constraints.values()) <= 0
    tracker.set_tags(child, {schema.PRUNED: str(pruned).lower(), schema.FEASIBLE: str(feasible).lower()})
    tracker.end_run(child, status)


def log_study(tracker: Tracker, parent: str, study: optuna.Study, trials: pd.DataFrame) -> None:
    """On the parent: the trials table (study.trials_dataframe()), the best feasible trial as metrics, tags and JSON."""
    tracker.log_table(parent, study.trials_dataframe(), schema.TRIALS)
    counts = trials["state"].value_counts()
    tracker.log_metrics(parent, {f"trials/{state.lower()}": float(counts.get(state, 0))
                                 for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")})
    try:
        best = study.best_trial
    except ValueError:  # no feasible complete trial yet
        return
    tracker.log_metrics(parent, {"best/gap": best.value, "best/hard_fraction": best.user_attrs.get(schema.HARD_FRACTION,
                                                                                               float("nan"))})
    tracker.set_tags(parent, {**{f"best.{k}": str(v) for k, v in best.params.items()}, "best.trial": str(best.number),
                              "best.mlflow_run_id": str(best.user_attrs.get(RUN_ID_ATTR))})
    tracker.log_dict(parent, {"number": best.number, "value": best.value, "params": best.params,
                              "user_attrs": best.user_attrs, "constraints": best.constraints}, "best_trial.json")


def _best_value(study: optuna.Study) -> str:
    try:
        return f"{study.best_value:.4f}"
    except ValueError:
        return "-"
