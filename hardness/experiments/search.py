"""`hardness search`: an Optuna study over an identifier's settings, every trial tracked in MLflow.

Objective: maximise the easy-minus-hard accuracy gap on held-out test samples (the benchmark's
criterion). The trivial optimum, a tiny hard set of mislabeled points, is ruled out by a constraint:
a trial is feasible only if its hard sets hold at least `search.min_hard_fraction` of the samples, and
Optuna's best trial is the best feasible one. The searched fraction itself stays below
`search.max_hard_fraction`. Trials report the gap after each hard set, so clearly bad ones are pruned.

Storage: Optuna's own database (never the MLflow one), by default `optuna.db` beside the MLflow store;
any database URL Optuna supports works, so processes and machines can share one study. Rerunning with
the same study name continues the study and its MLflow parent run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hardness.config import Config, dump_config
from hardness.data import load_dataset
from hardness.errors import HardnessError
from hardness.experiments.identify import identify
from hardness.identifiers import get_identifier
from hardness.identifiers.base import Progress, derive_model_seeds
from hardness.search import compute_stragglers_for_rule, flag_fraction, record_history, score_gaps
from hardness.tracking import Tracker, tracking_tags


@dataclass(frozen=True)
class SearchSummary:
    """The study's trials (one row each) and where they are tracked."""

    parent_run_id: str
    study_name: str
    storage: str
    trials: pd.DataFrame

    def best(self, n: int = 5) -> pd.DataFrame:
        """The n best feasible finished trials."""
        done = self.trials[(self.trials["state"] == "COMPLETE") & self.trials["feasible"]]
        return done.sort_values("value", ascending=False).head(n)

    def to_dict(self) -> dict:
        return {"parent_run_id": self.parent_run_id, "study_name": self.study_name, "storage": self.storage,
                "best": self.best().to_dict(orient="records"), "n_trials": len(self.trials)}


def default_storage(tracker: Tracker) -> str:
    """sqlite:///<folder of the MLflow SQLite store>/optuna.db, or ./mlruns/optuna.db for a remote store."""
    folder = Path(tracker.uri.removeprefix("sqlite:///")).parent if tracker.uri.startswith("sqlite:///") \
        else Path("mlruns").resolve()
    return f"sqlite:///{folder / 'optuna.db'}"


def _open_study(storage: str, study_name: str, seed: int):
    """Create or load the study; the sampler seed moves on with the trials already there (resumed workers)."""
    import warnings

    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():
            # heartbeats mark a killed worker's trial FAILED instead of leaving it RUNNING (experimental in 5.0)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = optuna.storages.RDBStorage(storage, engine_kwargs=kwargs, heartbeat_interval=60,
                                                 grace_period=180)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise HardnessError(f"cannot open Optuna storage {storage!r}: {error}") from None
    try:
        existing = len(optuna.load_study(study_name=study_name, storage=backend).trials)
    except KeyError:
        existing = 0
    sampler = optuna.samplers.TPESampler(seed=seed + existing, n_startup_trials=5)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.create_study(study_name=study_name, storage=backend, direction="maximize", sampler=sampler,
                               pruner=pruner, load_if_exists=True)


def run_search(config: Config, *, progress: Progress | None = None) -> SearchSummary:
    """Precompute the identification once, then run search.trials trials on the shared study."""
    import optuna

    name = config.identifier.name
    get_identifier(name)
    tracker = Tracker(config.tracking.uri, config.tracking.experiment)
    dataset = load_dataset(config.data, config.seed)
    storage = config.search.storage or default_storage(tracker)
    study_name = config.search.study_name or f"{name}-{dataset.name}-{dataset.fingerprint[:8]}"
    study = _open_study(storage, study_name, config.seed)
    n_sets = config.imbalance.hard_sets
    if name == "stragglers":
        history = record_history(dataset, config, derive_model_seeds(config.seed, n_sets))
    else:
        scores = identify(dataset, config, name, n_sets).scores
    tags = {**tracking_tags(), "hardness.kind": "search", "hardness.identifier": name, "hardness.dataset": dataset.name,
            "hardness.fingerprint": dataset.fingerprint, "optuna.study_name": study_name, "optuna.storage": storage}

    with tracker.resumable_run(f"search-{study_name}", f"search|{storage}|{study_name}", tags=tags,
                               params={**config.flat(), "identifier": name}) as parent:
        tracker.log_text(parent, dump_config(config), "config.yaml")

        def objective(trial: optuna.Trial) -> float:
            if name == "stragglers":
                rule = config.inversion.model_copy(update={
                    "warmup": trial.suggest_int("warmup", 0, min(60, config.train.epochs // 2)),
                    "check_every": trial.suggest_int("check_every", 1, 20),
                    "smoothing": trial.suggest_int("smoothing", 1, 10)})
                hard = compute_stragglers_for_rule(history, dataset.y, rule)
            else:
                fraction = trial.suggest_float("hard_fraction", 0.005, config.search.max_hard_fraction, log=True)
                hard = flag_fraction(scores, dataset.y, fraction, level=trial.suggest_categorical(
                    "level", ["dataset", "class"]))
            fraction_found = float(hard.float().mean())
            trial.set_constraint("min_hard_fraction", config.search.min_hard_fraction - fraction_found)
            trial.set_user_attr("hard_fraction", fraction_found)
            child = tracker.start_run(f"trial-{trial.number}", parent_run_id=parent, params=trial.params,
                                      tags={**tags, "optuna.trial_number": str(trial.number)})
            trial.set_user_attr("mlflow_run_id", child)
            status = "FAILED"
            try:
                tracker.log_metrics(child, {"hard_fraction": fraction_found})
                gaps = []
                for step, gap in enumerate(score_gaps(dataset, config, hard)):
                    gaps.append(gap)
                    tracker.log_metrics(child, {"objective/gap": sum(gaps) / len(gaps)}, step=step)
                    trial.report(sum(gaps) / len(gaps), step)
                    if trial.should_prune():
                        # a pruned trial is stopped on purpose: KILLED and tagged, not FAILED
                        status = "KILLED"
                        tracker.set_tags(child, {"hardness.pruned": "true"})
                        raise optuna.TrialPruned()
                status = "FINISHED"
                return sum(gaps) / len(gaps)
            except KeyboardInterrupt:
                status = "KILLED"
                raise
            finally:
                tracker.end_run(child, status)

        def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            if progress is not None:
                progress(after_trial.done, config.search.trials, f"best {_best_value(study)}")
            after_trial.done += 1

        after_trial.done = 1
        if progress is not None:
            progress(0, config.search.trials, "starting")
        study.optimize(objective, n_trials=config.search.trials, callbacks=[after_trial])
        trials = trials_frame(study)
        tracker.log_table(parent, trials, "trials.csv")
        feasible = trials[(trials["state"] == "COMPLETE") & trials["feasible"]]
        if not feasible.empty:
            best = feasible.sort_values("value", ascending=False).iloc[0]
            tracker.log_metrics(parent, {"best/gap": float(best["value"]), "best/hard_fraction":
                                         float(best["hard_fraction"])})
            tracker.set_tags(parent, {f"best.{k.removeprefix('params_')}": str(v) for k, v in best.items()
                                      if k.startswith("params_")} | {"best.trial": str(int(best["number"]))})
    return SearchSummary(parent, study_name, storage, trials)


def _best_value(study) -> str:
    try:
        return f"{study.best_value:.4f}"
    except ValueError:
        return "-"


def trials_frame(study) -> pd.DataFrame:
    """One row per trial: number, state, gap, feasibility, hard fraction, MLflow run, params."""
    return pd.DataFrame([{
        "number": trial.number, "state": trial.state.name, "value": trial.value,
        "feasible": all(value <= 0 for value in trial.constraints.values()),
        "hard_fraction": trial.user_attrs.get("hard_fraction"), "mlflow_run_id": trial.user_attrs.get("mlflow_run_id"),
        **{f"params_{key}": value for key, value in trial.params.items()},
    } for trial in study.trials])
