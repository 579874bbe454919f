"""What a search trial computes, without retraining the identifier (pure: no MLflow, no storage).

Identification runs once per process (`precompute`): score identifiers keep their scores [K, N];
rule identifiers (the stragglers) keep one full-budget record of radius curves [E+1, K, C] and a compact
correctness history, so any inversion rule (warm-up, check interval, smoothing, own/last mode) yields its
straggler sets offline through the same `hardness.identifiers.inversion.derive_stragglers` that `hardness run` uses.
Retries: the search derives without them (retrying would mean training again per trial): a class that does
not invert under a trial's rule within the budget contributes no stragglers, and the trial records how many
classes per model stayed uninverted (user attr `not_inverted`). A trial (`objective`) then suggests a threshold or a rule, derives the K hard
sets, and measures the benchmark's quantity: the easy-minus-hard accuracy gap of `imbalance.inits`
fresh models per hard set on held-out test samples (`search.train_ratio` split, everything kept).

Trivial optimum guard: a handful of mislabeled points makes a near-perfect gap, so a trial is
feasible only if its hard sets hold at least `search.min_hard_fraction` of the samples (and at most
`search.max_hard_fraction`, which rules out inversion rules that fire at once and flag nearly
everything): Optuna constraints `min_hard_fraction = min - fraction` and `max_hard_fraction =
fraction - max`, feasible when <= 0. Optuna's best trial is the best feasible one, and TPE ranks
infeasible trials by how far they miss. An infeasible trial is pruned before any training: its gap
could never be chosen, so it is not worth measuring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from hardness.config import Config, SearchConfig
from hardness.datasets.prepare import Dataset
from hardness.engine.devices import place
from hardness.engine.divergence import diverged_of, report_diverged
from hardness.engine.progress import Progress
from hardness.engine.seeds import derive_model_seeds
from hardness.errors import HardnessError
from hardness.identifiers import get_identifier, gives_scores
from hardness.identifiers.base import RuleIdentifier
from hardness.identifiers.thresholds import flag_top_k, flag_top_k_per_class
from hardness.studies.imbalance.grid import Cell, evaluate_cells
from hardness.tracking import schema

OnStep = Callable[[int, float, float], None]
"""on_step(hard_set, gap of that hard set, running mean gap): called after each hard set is evaluated."""


def flag_fraction(scores: torch.Tensor, labels: torch.Tensor, fraction: float, *, level: str) -> torch.Tensor:
    """The hardest `fraction` of samples per row of scores [K, N] (higher = harder), over the dataset or per class."""
    if level == "class":
        counts = torch.round(torch.bincount(labels) * fraction).long()
        return flag_top_k_per_class(scores, labels, counts)
    return flag_top_k(scores, round(fraction * scores.shape[-1]))


def score_gaps(dataset: Dataset, config: Config, hard_sets: torch.Tensor) -> Iterator[float]:
    """Mean (over inits) easy-minus-hard test accuracy gap per hard set [K, N], yielded one hard set at a time."""
    cells = [Cell(h, config.search.train_ratio, 1.0) for h in range(len(hard_sets))]
    for results in evaluate_cells(dataset, config, hard_sets, cells):
        for result in results:
            yield float(torch.as_tensor(result.metrics["gap/acc"], device="cpu").nanmean())


@dataclass(frozen=True)
class SearchProblem:
    """What every trial of one process shares: the data, the config, and scores [K, N] or a rule identifier's record
    (with `diverged` [K]); `kept` [K'] are the models whose training did not diverge, the only ones a trial uses."""

    dataset: Dataset
    config: Config
    scores: torch.Tensor | None = None
    history: Any = None
    kept: torch.Tensor | None = None


def precompute(dataset: Dataset, config: Config, *, progress: Progress | None = None) -> SearchProblem:
    """Identify once with the first imbalance.hard_sets model seeds (the same seeds `hardness benchmark` uses); models
    that diverged are left out (a warning), and when all did there is nothing to search (ComputationFailed). The problem
    lives on config.train.device: the data moves there once for all trials."""
    dataset = place(dataset, config)
    name = config.identifier.name
    identifier = get_identifier(name)
    seeds = derive_model_seeds(config.seed, config.imbalance.hard_sets)
    if isinstance(identifier, RuleIdentifier):
        history = identifier.record(dataset, config, seeds, progress=progress)
        report_diverged(history.diverged, f"{name} models")
        return SearchProblem(dataset, config, history=history, kept=(~history.diverged).nonzero().flatten())
    if not gives_scores(name):
        raise HardnessError(f"identifier {name!r} gives hard sets but no scores: the search tunes score thresholds "
                            f"(or the stragglers' inversion rule)")
    identification = identifier.identify(dataset, config, seeds, progress=progress)
    diverged = diverged_of(identification.details, len(seeds), dataset.x.device)
    report_diverged(diverged, f"{name} models")
    return SearchProblem(dataset, config, scores=identification.scores[~diverged])


def suggest_hard_sets(trial: optuna.Trial, problem: SearchProblem) -> torch.Tensor:
    """The search space: hard masks [K, N] for the trial's threshold (scores) or inversion rule (stragglers)."""
    config, labels = problem.config, problem.dataset.y
    if problem.history is not None:
        rule = config.inversion.model_copy(update={
            "warmup": trial.suggest_int("warmup", 0, min(60, config.train.epochs // 2)),
            "check_every": trial.suggest_int("check_every", 1, 20),
            "smoothing": trial.suggest_int("smoothing", 1, 10),
            "mode": trial.suggest_categorical("mode", ["own", "last"])})
        found = problem.history.derive(labels, rule)
        kept = problem.kept if problem.kept is not None else torch.arange(len(found.hard), device=found.hard.device)
        trial.set_user_attr("not_inverted", float((found.inversion_epoch[kept] < 0).sum(1).float().mean()))
        return found.hard[kept]
    # reaching below the minimum lets the sampler learn where feasibility ends
    low = max(config.search.min_hard_fraction / 2, 1 / problem.dataset.n_samples)
    fraction = trial.suggest_float("fraction", low, config.search.max_hard_fraction, log=True)
    level = trial.suggest_categorical("level", ["dataset", "class"])
    return flag_fraction(problem.scores, labels, fraction, level=level)


def compute_constraints(fraction: float, search: SearchConfig) -> dict[str, float]:
    """Optuna constraint values of a hard fraction (feasible when every value is <= 0)."""
    return {"min_hard_fraction": search.min_hard_fraction - fraction,
            "max_hard_fraction": fraction - search.max_hard_fraction}


def objective(trial: optuna.Trial, problem: SearchProblem, *, on_step: OnStep | None = None) -> float:
    """Mean easy-minus-hard test accuracy gap over the trial's hard sets (maximise); see the module docstring."""
    hard = suggest_hard_sets(trial, problem)
    fraction = float(hard.float().mean())
    search = problem.config.search
    trial.set_user_attr(schema.HARD_FRACTION, fraction)
    constraints = compute_constraints(fraction, search)
    for name, value in constraints.items():
        trial.set_constraint(name, value)
    if any(value > 0 for value in constraints.values()):
        raise optuna.TrialPruned(f"infeasible: hard fraction {fraction:.4f} outside "
                                 f"[{search.min_hard_fraction}, {search.max_hard_fraction}]")
    gaps: list[float] = []
    for step, gap in enumerate(score_gaps(problem.dataset, problem.config, hard)):
        if math.isnan(gap):
            raise optuna.TrialPruned(f"gap undefined for hard set {step}: its hard or easy test part is empty, or "
                                     f"every model trained on it diverged")
        gaps.append(gap)
        mean = sum(gaps) / len(gaps)
        trial.report(mean, step)
        if on_step is not None:
            on_step(step, gap, mean)
        # after the last hard set the value is known: never throw a finished measurement away
        if step < len(hard) - 1 and trial.should_prune():
            raise optuna.TrialPruned(f"gap {mean:.4f} after {step + 1} hard set(s)")
    return sum(gaps) / len(gaps)
