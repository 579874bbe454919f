"""`hardness search`: an Optuna study over an identifier's settings, every trial tracked in MLflow.

The objective and its search space live in hardness.search (pure); this module adds the study, its
storage and the tracking. Objective: maximise the easy-minus-hard test accuracy gap; a constraint
keeps the hard fraction within [search.min_hard_fraction, search.max_hard_fraction] so that tiny sets
of mislabeled points cannot win (see hardness.search). Clearly bad trials are pruned (median rule over
the gap after each hard set).

Storage: Optuna's own database (never the MLflow one), by default `optuna.db` beside the MLflow SQLite
store; any database URL Optuna supports works, so processes and machines can share one study. The study
remembers its MLflow parent run (study user attr `mlflow_parent_run_id`) and its config, so every
worker and every rerun with the same study name logs under one parent, and a rerun with a different
setup is refused instead of mixing trials. Each trial is a child run; its id is the trial user attr
`mlflow_run_id`.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from hardness.config import Config, dump_config, flatten
from hardness.data import load_dataset
from hardness.errors import HardnessError
from hardness.identifiers import get_identifier
from hardness.identifiers.base import Progress
from hardness.search import SearchProblem, compute_constraints, objective, precompute
from hardness.tracking import RESUME_TAG, Tracker, tracking_tags

PARENT_ATTR = "mlflow_parent_run_id"
CONFIG_ATTR = "hardness_config"
PARENT_WAIT_S = 120.0
"""How long a worker that joins a brand-new study waits for its creator to record the parent run."""
IGNORED_KEYS = ("search.trials", "search.storage", "search.study_name", "tracking.", "train.chunk_size",
                "imbalance.models_per_batch", "data.root", "data.download", "seeds", "threshold.", "benchmark.",
                "inversion.")
"""Config keys that may differ between workers and reruns of one study (they do not change a trial's result)."""


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


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """TPE with its random state derived from (seed, trial number).

    A single worker's study is reproducible, a resumed study does not repeat the points it already
    tried, and workers started at the same moment (same seed) do not propose the same points.
    """

    def __init__(self, seed: int, n_startup_trials: int = 5):
        self.seed, self.n_startup_trials = seed, n_startup_trials
        self._tpe = self._build(0)

    def _build(self, number: int) -> optuna.samplers.TPESampler:
        seed = int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)

    def before_trial(self, study, trial) -> None:
        self._tpe = self._build(trial.number)
        self._tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()


def open_storage(url: str, tracker: Tracker) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at `url`: generous SQLite lock timeout, heartbeats, retried schema setup.

    Heartbeats let a later worker mark a killed worker's trial FAILED (and its MLflow run with it)
    instead of leaving it RUNNING forever. Two processes creating a new database at once race on the
    schema; the loser simply retries.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").split("?")[0]).resolve()
        if path == tracker.db_path:
            raise HardnessError(f"Optuna storage {url!r} is the MLflow database: give the study its own file")
        path.parent.mkdir(parents=True, exist_ok=True)

    def end_mlflow_run(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if "mlflow_run_id" in trial.user_attrs and tracker.has_run(trial.user_attrs["mlflow_run_id"]):
            tracker.end_run(trial.user_attrs["mlflow_run_id"], "FAILED")

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=60, grace_period=180,
                                                  heartbeat_stale_trial_callback=end_mlflow_run)
        except (IntegrityError, OperationalError) as error:
            if attempt == 4:
                raise HardnessError(f"cannot open Optuna storage {url!r}: {error}") from None
            time.sleep(0.2 + random.random() * attempt)
        except (SQLAlchemyError, ImportError, ValueError) as error:
            raise HardnessError(f"cannot open Optuna storage {url!r}: {error}") from None
    raise AssertionError("unreachable")


def open_study(storage: optuna.storages.BaseStorage, name: str, *, seed: int,
               pruner: optuna.pruners.BasePruner | None = None) -> tuple[optuna.Study, bool]:
    """(study, created): create the study, or load it when it exists (another worker or an earlier run)."""
    sampler = TrialSeededSampler(seed)
    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    try:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize", sampler=sampler,
                                   pruner=pruner), True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        if study.direction != optuna.study.StudyDirection.MAXIMIZE or len(study.directions) != 1:
            raise HardnessError(f"study {name!r} exists but does not maximise one value: pick another --study-name") from None
        return study, False


def study_config(config: Config) -> dict[str, Any]:
    """The config keys that fix a trial's result, JSON-normalised (what a study remembers and checks)."""
    kept = {k: v for k, v in flatten(config.model_dump()).items() if not k.startswith(IGNORED_KEYS)}
    return json.loads(json.dumps(kept))


def check_study_config(study: optuna.Study, config: Config) -> None:
    """Refuse to add trials computed under another setup to a study."""
    recorded, current = study.user_attrs.get(CONFIG_ATTR), study_config(config)
    if recorded is None:
        study.set_user_attr(CONFIG_ATTR, current)
        return
    differences = [f"{k}={recorded.get(k)!r} there, {current.get(k)!r} here"
                   for k in sorted(set(recorded) | set(current)) if recorded.get(k) != current.get(k)]
    if differences:
        raise HardnessError(f"study {study.study_name!r} was run with another config ({'; '.join(differences[:4])}): "
                            f"use the same config or another --study-name")


def find_parent_run(tracker: Tracker, study: optuna.Study, key: str, *, created: bool) -> str | None:
    """The study's MLflow parent run in this store, or None when this worker should start it.

    Looked up by resume tag; a worker joining a study that another just created waits for the
    creator to record the parent's id in the study, so simultaneous workers share one parent.
    """
    found = tracker.find_run_by_tag(RESUME_TAG, key)
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


def run_search(config: Config, *, progress: Progress | None = None,
               pruner: optuna.pruners.BasePruner | None = None) -> SearchSummary:
    """Open (or join) the study, precompute the identification once, run search.trials trials, log the best."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = config.identifier.name
    get_identifier(name)
    tracker = Tracker(config.tracking.uri, config.tracking.experiment)
    storage_url = config.search.storage or default_storage(tracker)
    storage = open_storage(storage_url, tracker)
    dataset = load_dataset(config.data, config.seed)
    study_name = config.search.study_name or f"{name}-{dataset.name}-{dataset.fingerprint[:8]}"
    study, created = open_study(storage, study_name, seed=config.seed, pruner=pruner)
    check_study_config(study, config)
    key = f"search|{storage_url}|{study_name}"
    tags = {**tracking_tags(), "hardness.kind": "search", "hardness.identifier": name, "hardness.dataset": dataset.name,
            "hardness.fingerprint": dataset.fingerprint, "optuna.study_name": study_name, "optuna.storage": storage_url,
            "optuna.direction": "maximize", RESUME_TAG: key}
    existing = find_parent_run(tracker, study, key, created=created)
    with tracker.run(f"search-{study_name}", params={**config.flat(), "identifier": name}, tags=tags,
                     resume_run_id=existing) as parent:
        if study.user_attrs.get(PARENT_ATTR) is None or created:
            study.set_user_attr(PARENT_ATTR, parent)
        if existing is None:
            tracker.log_text(parent, dump_config(config), "config.yaml")
        problem = precompute(dataset, config, progress=progress)
        trial_tags = {"hardness.kind": "search", "hardness.identifier": name, "optuna.study_name": study_name}

        def tracked(trial: optuna.Trial) -> float:
            return _run_tracked_trial(trial, problem, tracker, parent, trial_tags)

        done = 0

        def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, config.search.trials, f"trial {trial.number} {trial.state.name.lower()}, "
                                                     f"best {_best_value(study)}")

        if progress is not None:
            progress(0, config.search.trials, "trials")
        study.optimize(tracked, n_trials=config.search.trials, callbacks=[after_trial])
        trials = trials_frame(study)
        log_study(tracker, parent, study, trials)
    return SearchSummary(parent, study_name, storage_url, trials, done)


def _run_tracked_trial(trial: optuna.Trial, problem: SearchProblem, tracker: Tracker, parent: str,
                       tags: dict[str, str]) -> float:
    """The objective inside a child run; a pruned trial ends KILLED with hardness.pruned=true (not FAILED)."""
    child = tracker.start_run(f"trial-{trial.number}", parent_run_id=parent,
                              tags={**tags, "optuna.trial_number": str(trial.number)})
    trial.set_user_attr("mlflow_run_id", child)

    def on_step(step: int, gap: float, mean: float) -> None:
        tracker.log_metrics(child, {"gap/hard_set": gap, "objective/gap": mean}, step=step)

    status, pruned = "FAILED", False
    try:
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
        if trial.params:
            tracker.log_params(child, trial.params)
        attrs = {k: float(v) for k, v in trial.user_attrs.items() if isinstance(v, (int, float))}
        fraction = trial.user_attrs.get("hard_fraction")
        constraints = {} if fraction is None else compute_constraints(fraction, problem.config.search)
        tracker.log_metrics(child, attrs | {f"constraint/{k}": v for k, v in constraints.items()})
        feasible = bool(constraints) and max(constraints.values()) <= 0
        tracker.set_tags(child, {"hardness.pruned": str(pruned).lower(), "hardness.feasible": str(feasible).lower()})
        tracker.end_run(child, status)


def log_study(tracker: Tracker, parent: str, study: optuna.Study, trials: pd.DataFrame) -> None:
    """On the parent: the trials table (study.trials_dataframe()), the best feasible trial as metrics, tags and JSON."""
    tracker.log_table(parent, study.trials_dataframe(), "trials.csv")
    counts = trials["state"].value_counts()
    tracker.log_metrics(parent, {f"trials/{state.lower()}": float(counts.get(state, 0))
                                 for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")})
    try:
        best = study.best_trial
    except ValueError:  # no feasible complete trial yet
        return
    tracker.log_metrics(parent, {"best/gap": best.value, "best/hard_fraction": best.user_attrs.get("hard_fraction",
                                                                                               float("nan"))})
    tracker.set_tags(parent, {**{f"best.{k}": str(v) for k, v in best.params.items()}, "best.trial": str(best.number),
                              "best.mlflow_run_id": str(best.user_attrs.get("mlflow_run_id"))})
    tracker.log_dict(parent, {"number": best.number, "value": best.value, "params": best.params,
                              "user_attrs": best.user_attrs, "constraints": best.constraints}, "best_trial.json")


def _best_value(study: optuna.Study) -> str:
    try:
        return f"{study.best_value:.4f}"
    except ValueError:
        return "-"


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of the study (every worker's): number, state, gap, feasibility, hard fraction, run, params."""
    return pd.DataFrame([{
        "number": trial.number, "state": trial.state.name, "value": trial.value,
        "feasible": all(value <= 0 for value in trial.constraints.values()) if trial.constraints else False,
        "hard_fraction": trial.user_attrs.get("hard_fraction"), "mlflow_run_id": trial.user_attrs.get("mlflow_run_id"),
        **trial.params,
    } for trial in study.trials], columns=None if study.trials else
        ["number", "state", "value", "feasible", "hard_fraction", "mlflow_run_id"])
