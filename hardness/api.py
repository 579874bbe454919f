"""The Python API: arrays in, answers back in the caller's order, Python exceptions, nothing tracked unless asked.

    import hardness
    hard = hardness.find_hard(X, y, "aum", threshold=0.9, epochs=100)
    hard.mask, hard.to_pandas()

Settings are keyword arguments with the names of the YAML config: a top-level field (`seeds=5`), a field of a section
by its own name when only one section has it (`epochs=100`, `lr=0.05`), `section__field` (`train__epochs=100`), or a
whole section as a dict (`train={"epochs": 100}`); or pass `config=` (a hardness.Config or a YAML file) and override
it. The same config and seed give the same answers as the CLI on the same data. With `tracking_uri=` or
`experiment=` the call is logged exactly as the CLI logs it, and the result carries its `run_id`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from hardness.catalogue import BASELINE_IDENTIFIER, IN_MEMORY
from hardness.config import INVERSION_UNUSED, Config, ThresholdConfig, build_config, merge, read_config_file
from hardness.errors import EnvironmentProblem, HardnessError

__all__ = ["Config", "diagnose", "find_hard", "find_stragglers", "score"]

Result = TypeVar("Result")


def python_errors(function: Callable[..., Result]) -> Callable[..., Result]:
    """Faults become Python exceptions: bad input a ValueError (TypeError stays), an unusable store or a computation
    that produced nothing a RuntimeError; the message is the CLI's one line."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Result:
        try:
            return function(*args, **kwargs)
        except HardnessError as error:
            kind = RuntimeError if isinstance(error, EnvironmentProblem) or error.exit_code >= 3 else ValueError
            raise kind(str(error)) from None

    return call


def resolve_config(config: Config | str | Path | None, settings: Mapping[str, Any],
                   fixed: Mapping[str, Any] | None = None, *, thresholds: bool = True) -> Config:
    """A validated Config: `config` (or the defaults), then the keyword `settings`, then the call's own `fixed` tree
    (identifier, threshold, tracking), with in-memory data. The inversion rule's timing is checked only when the call
    uses the rule: the stragglers, or (when the call thresholds) the like_stragglers threshold."""
    if isinstance(config, Config):
        tree = config.model_dump()
    elif config is None:
        tree = {}
    elif isinstance(config, (str, Path)):
        tree = read_config_file(config)
    else:
        raise TypeError(f"config must be a hardness.Config or the path of a YAML file, not {type(config).__name__}")
    for key, value in settings.items():
        tree = merge(tree, _setting_tree(key, value))
    tree = merge(tree, merge(dict(fixed or {}), {"data": {"name": IN_MEMORY}}))
    resolved = build_config(tree, context={INVERSION_UNUSED: True})
    uses_inversion = resolved.identifier.name == BASELINE_IDENTIFIER or (
        thresholds and resolved.threshold.method == "like_stragglers")
    return build_config(tree) if uses_inversion else resolved


def _setting_tree(key: str, value: Any) -> dict[str, Any]:
    """One keyword setting as a config tree: {'train': {'epochs': 100}} for epochs=100 or train__epochs=100."""
    sections = {name for name, field in Config.model_fields.items() if hasattr(field.annotation, "model_fields")}
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if key in Config.model_fields:
        return {key: value}
    if "__" in key:
        section, _, field = key.partition("__")
        if section in sections and field in Config.model_fields[section].annotation.model_fields:
            return {section: {field: value}}
        raise TypeError(f"unknown setting {key!r}: {section!r} has no field {field!r}")
    owners = [name for name in sorted(sections) if key in Config.model_fields[name].annotation.model_fields]
    if len(owners) == 1:
        return {owners[0]: {key: value}}
    if owners:
        raise TypeError(f"setting {key!r} is ambiguous: give one of {', '.join(f'{o}__{key}' for o in owners)}")
    leaves = sorted({f for name in sections for f in Config.model_fields[name].annotation.model_fields})
    raise TypeError(f"unknown setting {key!r}; choose a config field: {', '.join(sorted(Config.model_fields))}, "
                    f"a section's field ({', '.join(leaves)}) or section__field")


def _threshold_setting(threshold: Any) -> dict[str, Any]:
    """`threshold` as a config tree: an int is top_k's k, a float quantile's q, a str a method name, a dict or a
    ThresholdConfig its fields."""
    if threshold is None:
        return {}
    if isinstance(threshold, bool):
        raise TypeError("threshold must be a method name, a count (top_k), a quantile, a dict or a ThresholdConfig")
    if isinstance(threshold, int):
        return {"threshold": {"method": "top_k", "k": threshold}}
    if isinstance(threshold, float):
        return {"threshold": {"method": "quantile", "quantile": threshold}}
    if isinstance(threshold, str):
        return {"threshold": {"method": threshold}}
    if isinstance(threshold, (Mapping, ThresholdConfig)):
        return {"threshold": dict(threshold) if isinstance(threshold, Mapping) else threshold.model_dump()}
    raise TypeError(f"threshold must be a method name, a count (top_k), a quantile, a dict or a ThresholdConfig, not "
                    f"{type(threshold).__name__}")


class _Call:
    """One API call's data and config: the caller's samples read and prepared, tracking when asked."""

    def __init__(self, x: Any, y: Any, ids: Any, label_column: str, feature_columns: Any,
                 config: Config | str | Path | None, tracking_uri: str | None, experiment: str | None,
                 settings: Mapping[str, Any], fixed: Mapping[str, Any] | None = None, *, thresholds: bool = True):
        from hardness.datasets.memory import read_in_memory
        from hardness.datasets.prepare import prepare
        from hardness.studies.common.checks import check_fits_data

        tracking = {key: value for key, value in (("uri", tracking_uri), ("experiment", experiment))
                    if value is not None}
        self.tracked = bool(tracking)
        self.config = resolve_config(config, settings, merge(dict(fixed or {}), {"tracking": tracking}),
                                     thresholds=thresholds or self.tracked)  # a tracked call thresholds as the CLI
        self.memory = read_in_memory(x, y, ids=ids, label_column=label_column, feature_columns=feature_columns)
        self.dataset = prepare(self.memory.raw, self.config.data, self.config.seed)
        check_fits_data(self.config, self.dataset)

    def identify(self, *, threshold: bool = True):
        """(identification, hard sets (None without `threshold`, untracked), diverged [K], run id or None) of
        config.identifier over config.seeds seeds."""
        if self.tracked:
            from hardness.studies.identify.run import run_identify

            summary = run_identify(self.config, dataset=self.dataset)
            return summary.identification, summary.sets, summary.sets.diverged, summary.parent_run_id
        from hardness.engine.divergence import diverged_of
        from hardness.engine.resources import require_memory
        from hardness.identifiers import get_identifier
        from hardness.identifiers.hardsets import check_threshold
        from hardness.identifiers.identify import identify, threshold_identification

        name = self.config.identifier.name
        get_identifier(name)
        if threshold:
            check_threshold([name], self.config.threshold)
        require_memory(self.config, self.dataset, self.config.seeds, lever="ask for fewer seeds")
        identification = identify(self.dataset, self.config, name, self.config.seeds)
        sets = threshold_identification(self.dataset, self.config, identification) if threshold else None
        diverged = sets.diverged if threshold else diverged_of(identification.details, self.config.seeds, "cpu")
        _warn_diverged(diverged, f"{name} models")
        return identification, sets, diverged, None

    def find_stragglers(self):
        """(straggler run, run id or None) of config.seeds models."""
        if self.tracked:
            from hardness.studies.stragglers.run import run_stragglers

            summary = run_stragglers(self.config, dataset=self.dataset)
            return summary.run, summary.parent_run_id
        from hardness.engine.devices import place, to_cpu
        from hardness.engine.resources import require_memory
        from hardness.engine.seeds import derive_model_seeds
        from hardness.identifiers.stragglers import find_stragglers

        require_memory(self.config, self.dataset, self.config.seeds, lever="ask for fewer seeds")
        seeds = derive_model_seeds(self.config.seed, self.config.seeds)
        run = to_cpu(find_stragglers(place(self.dataset, self.config), self.config, seeds, seed=self.config.seed))
        _warn_diverged(run.diverged, "models")
        return run, None


    def diagnose(self):
        """(the diagnosis of the data, run id or None)."""
        if self.tracked:
            from hardness.studies.diagnose.run import run_diagnose

            summary = run_diagnose(self.config, dataset=self.dataset)
            return summary.diagnosis, summary.run_id
        from hardness.engine.resources import require_memory
        from hardness.studies.diagnose.calibrate import check_calibratable
        from hardness.studies.diagnose.diagnosis import diagnose_dataset

        check_calibratable(self.dataset, self.config)
        require_memory(self.config, self.dataset, self.config.seeds * self.config.identifier.cleanlab_folds,
                       lever="ask for fewer seeds or identifier__cleanlab_folds")
        return diagnose_dataset(self.dataset, self.config), None


def _warn_diverged(diverged: Any, what: str) -> None:
    """A warning when some models diverged; a RuntimeError when all of them did (nothing to answer with)."""
    from hardness.engine.divergence import describe_diverged

    if not bool(diverged.any()):
        return
    message = describe_diverged(diverged, what)
    if bool(diverged.all()):
        raise RuntimeError(f"{message}; nothing left to answer with: lower lr")
    warnings.warn(f"{message}; left out of the results", RuntimeWarning, stacklevel=4)


@python_errors
def score(X: Any, y: Any = None, identifier: str | None = None, *, ids: Any = None, label_column: str = "label",
          feature_columns: Any = None, config: Config | str | Path | None = None, tracking_uri: str | None = None,
          experiment: str | None = None, **settings: Any):
    """Per-sample scores of `identifier` (any of `hardness identifiers`; higher = harder for every one) over
    `seeds` models: a ScoreResult with `.scores` [N] (the mean over seeds), `.per_seed` [K, N] and `.to_pandas()`,
    rows in the order of X. X: samples [N, ...] (array, tensor, images [N, H, W(, C)]) or a DataFrame with a label
    column; y: labels [N] of any hashable type; ids: sample ids [N], given back as they are."""
    from hardness.identifiers.results import build_score_result

    if identifier is None:
        raise TypeError("score needs an identifier: hardness.score(X, y, 'aum')")
    call = _Call(X, y, ids, label_column, feature_columns, config, tracking_uri, experiment, settings,
                 {"identifier": {"name": identifier}}, thresholds=False)
    identification, _, diverged, run_id = call.identify(threshold=False)
    return build_score_result(identification, diverged, call.dataset, call.memory, run_id)


@python_errors
def find_hard(X: Any, y: Any = None, identifier: str = "stragglers", *, threshold: Any = None,
              agreement: float = 0.5, ids: Any = None, label_column: str = "label", feature_columns: Any = None,
              config: Config | str | Path | None = None, tracking_uri: str | None = None,
              experiment: str | None = None, **settings: Any):
    """The hard samples of `identifier`: a HardResult with `.mask` [N] (flagged by at least `agreement` of the seeds),
    `.per_seed` [K, N], `.counts` per class, `.scores` and `.to_pandas()`, in the order of X (a StragglerResult for
    the stragglers). threshold: a count (top_k), a quantile (0.9 flags the top 10%), a method name (like_stragglers,
    top_k, quantile, own), a dict or a ThresholdConfig; default the config's (like_stragglers)."""
    from hardness.identifiers.results import build_hard_result

    _check_agreement(agreement)
    if identifier == "stragglers":
        if threshold is not None:
            raise ValueError("the stragglers flag their own set: threshold applies to identifiers that give scores")
        return find_stragglers(X, y, agreement=agreement, ids=ids, label_column=label_column,
                               feature_columns=feature_columns, config=config, tracking_uri=tracking_uri,
                               experiment=experiment, **settings)
    call = _Call(X, y, ids, label_column, feature_columns, config, tracking_uri, experiment, settings,
                 merge({"identifier": {"name": identifier}}, _threshold_setting(threshold)))
    identification, sets, _, run_id = call.identify()
    return build_hard_result(identification, sets, call.dataset, call.memory, agreement=agreement, run_id=run_id)


@python_errors
def find_stragglers(X: Any, y: Any = None, *, agreement: float = 0.5, ids: Any = None, label_column: str = "label",
                    feature_columns: Any = None, config: Config | str | Path | None = None,
                    tracking_uri: str | None = None, experiment: str | None = None, **settings: Any):
    """Stragglers (SPEC section 4) of `seeds` models: a StragglerResult with the masks (as find_hard), the inversion
    epoch of every class and seed (`.inversion_epochs`) and the radius curves (`.radii`), tidy DataFrames."""
    from hardness.identifiers.results import build_straggler_result

    _check_agreement(agreement)
    call = _Call(X, y, ids, label_column, feature_columns, config, tracking_uri, experiment, settings)
    run, run_id = call.find_stragglers()
    return build_straggler_result(run, call.dataset, call.memory, agreement=agreement, run_id=run_id)


def _check_agreement(agreement: float) -> None:
    if not isinstance(agreement, (int, float)) or isinstance(agreement, bool) or not 0 < agreement <= 1:
        raise ValueError(f"agreement is the share of seeds that must flag a sample, in (0, 1]; got {agreement!r}")


@python_errors
def diagnose(X: Any, y: Any = None, *, target_precision: float | None = None, ids: Any = None,
             label_column: str = "label", feature_columns: Any = None, config: Config | str | Path | None = None,
             tracking_uri: str | None = None, experiment: str | None = None, **settings: Any):
    """A verdict for every sample: label_error (with `suggested_label`, the likeliest other class by out-of-fold
    probabilities), outlier, hard or easy, each with its `estimated_precision`, calibrated on copies of the data with
    injected flips and outliers (`diagnose` settings: repeats, label_rate, image_types, ...; image types need images
    [N, H, W]). A DiagnoseResult: `.table` in the order of X, `.calibration`, `.confusion`, `.counts`."""
    from hardness.studies.diagnose.answer import build_diagnose_result

    fixed = {"identifier": {"name": "cleanlab"}}  # its out-of-fold models; no inversion rule is applied
    if target_precision is not None:
        fixed["diagnose"] = {"target_precision": target_precision}
    call = _Call(X, y, ids, label_column, feature_columns, config, tracking_uri, experiment, settings, fixed,
                 thresholds=False)
    diagnosis, run_id = call.diagnose()
    return build_diagnose_result(diagnosis, call.memory, run_id)
