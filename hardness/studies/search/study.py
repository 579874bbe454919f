"""Optuna plumbing of the search, without tracking: storage, study, sampler, the study's remembered config.

Storage: Optuna's own database (never the MLflow one); any database URL Optuna supports works, so processes and
machines can share one study. A study remembers the config keys that fix a trial's result and refuses trials
computed under another setup.
"""

from __future__ import annotations

import json
import logging
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from hardness.config import Config, flatten
from hardness.errors import EnvironmentProblem, UserError
from hardness.redaction import redact, redact_url
from hardness.tracking import schema

CONFIG_ATTR = "hardness_config"
RUN_ID_ATTR = "mlflow_run_id"
"""Trial user attr holding the trial's MLflow run id."""
IGNORED_KEYS = ("search.trials", "search.study_trials", "search.workers", "search.storage", "search.study_name",
                "tracking.", "executor.", "train.chunk_size", "train.threads", "train.device",
                "imbalance.models_per_batch", "data.root", "data.download", "seeds", "threshold.", "benchmark.",
                "inversion.")
"""Config keys that may differ between workers and reruns of one study (they do not change a trial's result beyond
float rounding)."""


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


def open_storage(url: str, *, reserved: Path | None = None,
                 on_stale_run: Callable[[str], None] | None = None) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at `url`: generous SQLite lock timeout, heartbeats, retried schema setup.

    Heartbeats let a later worker mark a killed worker's trial FAILED (and its MLflow run with it)
    instead of leaving it RUNNING forever. Two processes creating a new database at once race on the
    schema; the loser simply retries. A malformed URL is a UserError; a storage that cannot be reached, read,
    written or whose driver is missing is an EnvironmentProblem. Messages show the URL with its password masked.
    """
    from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

    shown = redact_url(url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").split("?")[0]).resolve()
        if path == reserved:
            raise UserError(f"Optuna storage {shown!r} is the MLflow database: give the study its own file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EnvironmentProblem(f"cannot create the folder {path.parent} for the Optuna storage "
                                     f"({error.strerror}): create it, or pass another --storage") from None

    def end_mlflow_run(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_stale_run is not None and RUN_ID_ATTR in trial.user_attrs:
            on_stale_run(trial.user_attrs[RUN_ID_ATTR])

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=60, grace_period=180,
                                                  heartbeat_stale_trial_callback=end_mlflow_run)
        except (IntegrityError, OperationalError) as error:
            racing = isinstance(error, IntegrityError) or "already exists" in str(error) or "locked" in str(error)
            if attempt == 4 or not racing:
                raise EnvironmentProblem(f"cannot open Optuna storage {shown}: {_first_line(error, url)}") from None
            time.sleep(0.2 + random.random() * attempt)
        except (ArgumentError, ValueError) as error:
            raise UserError(f"Optuna storage {shown!r} is not a valid database URL: {_first_line(error, url)}") from None
        except ImportError as error:
            cause = error.__cause__ or error
            raise EnvironmentProblem(f"cannot open Optuna storage {shown}: its database driver is not installed "
                                     f"({_first_line(cause, url)}); install it (PostgreSQL: pip install "
                                     f"'psycopg[binary]')") from None
        except SQLAlchemyError as error:
            raise EnvironmentProblem(f"cannot open Optuna storage {shown}: {_first_line(error, url)}") from None
    raise AssertionError("unreachable")


def _first_line(error: BaseException, url: str) -> str:
    """The first line of an error's message (drivers add SQL and links below it), secrets of `url` masked."""
    lines = str(error).strip().splitlines()
    return redact(lines[0] if lines else type(error).__name__, url)


class _NotInterrupts(logging.Filter):
    """Drops Optuna's two warnings on a trial stopped by Ctrl-C or a stop signal ('Trial N failed with parameters ...
    KeyboardInterrupt' with its traceback, then 'Trial N failed with value None'): the CLI says it in one line."""

    def __init__(self) -> None:
        super().__init__()
        self._interrupted: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        trial = record.getMessage().partition(" failed")[0]  # "Trial 12"
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            self._interrupted.add(trial)
        return trial not in self._interrupted


_NOT_INTERRUPTS = _NotInterrupts()


def silence_interrupted_trials() -> None:
    """Keep Optuna from logging a trial stopped by Ctrl-C or a stop signal (idempotent)."""
    logging.getLogger("optuna.study._optimize").addFilter(_NOT_INTERRUPTS)


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
            raise UserError(f"study {name!r} exists but does not maximise one value: pick another --study-name") from None
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
        raise UserError(f"study {study.study_name!r} was run with another config ({'; '.join(differences[:4])}): "
                            f"use the same config or another --study-name")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of the study (every worker's): number, state, gap, feasibility, hard fraction, run, params."""
    return pd.DataFrame([{
        "number": trial.number, "state": trial.state.name, "value": trial.value,
        "feasible": all(value <= 0 for value in trial.constraints.values()) if trial.constraints else False,
        "hard_fraction": trial.user_attrs.get(schema.HARD_FRACTION), "mlflow_run_id": trial.user_attrs.get(RUN_ID_ATTR),
        **trial.params,
    } for trial in study.trials], columns=None if study.trials else
        ["number", "state", "value", "feasible", "hard_fraction", "mlflow_run_id"])
