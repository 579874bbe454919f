"""Typed, frozen run configuration: defaults live here, YAML files in configs/ and `--set` override them.

A config file may name another with `extends: other.yaml` (a path relative to the file); its keys
are merged over the base. Unknown keys and bad values raise HardnessError listing what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hardness.errors import HardnessError

DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "kmnist")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Frozen):
    """Which samples to use and how to prepare them (SPEC section 1)."""

    name: Literal["digits", "mnist", "fashion-mnist", "kmnist"] = "digits"
    root: str = "data"
    download: bool = False
    subset_size: int | None = Field(default=None, gt=0)
    label_noise: float = Field(default=0.0, ge=0.0, lt=1.0)


class ModelConfig(_Frozen):
    """Fully connected net in -> width x depth -> n_classes; `latent_layer` picks the hidden layer for radii."""

    width: int = Field(default=20, gt=0)
    depth: int = Field(default=2, gt=0)
    activation: Literal["tanh", "relu"] = "tanh"
    latent_layer: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _latent_inside(self) -> ModelConfig:
        if self.latent_layer >= self.depth:
            raise ValueError(f"latent_layer {self.latent_layer} must be < depth {self.depth}")
        return self


class TrainConfig(_Frozen):
    """Optimisation; the defaults are the reference code's preset (tanh, SGD lr 0.1, full batch, 500 epochs)."""

    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(default=0.1, gt=0)
    momentum: float = Field(default=0.0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int | None = Field(default=None, gt=0)
    epochs: int = Field(default=500, gt=0)
    precision: Literal["fp32", "bf16"] = "fp32"
    chunk_size: int = Field(default=1024, gt=0)


class InversionConfig(_Frozen):
    """When a class's radius turns from shrinking to growing, and how stragglers are taken (SPEC section 4)."""

    warmup: int = Field(default=20, ge=0)
    check_every: int = Field(default=5, gt=0)
    smoothing: int = Field(default=1, gt=0)
    mode: Literal["own", "last"] = "own"
    max_retries: int = Field(default=2, ge=0)
    stop_when_inverted: bool = False


class IdentifierConfig(_Frozen):
    """Which hard-sample identifier to run and its own options (SPEC section 5)."""

    name: str = "stragglers"
    init: Literal["shared", "fresh"] = "shared"
    confidence_variant: Literal["max_logit", "true_class_probability"] = "max_logit"
    temperature: float = Field(default=1.0, gt=0)


PAPER_REMAINING = {"easy": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0), "hard": (0.0, 0.25, 0.5, 0.75, 1.0)}


class ThresholdConfig(_Frozen):
    """How score identifiers become hard sets: like the stragglers' counts, a fixed top-k, or a score quantile."""

    method: Literal["like_stragglers", "top_k", "quantile"] = "like_stragglers"
    level: Literal["dataset", "class"] = "dataset"
    k: int | None = Field(default=None, gt=0)
    quantile: float = Field(default=0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _k_given(self) -> ThresholdConfig:
        if self.method == "top_k" and self.k is None:
            raise ValueError("threshold.method top_k needs threshold.k")
        return self


class ImbalanceConfig(_Frozen):
    """The in-class imbalance grid (SPEC section 6); `remaining: null` means the paper's grid for `reduce`."""

    hard_sets: int = Field(default=3, gt=0)
    inits: int = Field(default=3, gt=0)
    train_ratios: tuple[float, ...] = (0.9, 0.7, 0.5)
    reduce: Literal["easy", "hard"] = "easy"
    remaining: tuple[float, ...] | None = None
    models_per_batch: int = Field(default=150, gt=0)

    @model_validator(mode="after")
    def _fractions_valid(self) -> ImbalanceConfig:
        if not self.train_ratios or any(not 0 < r < 1 for r in self.train_ratios):
            raise ValueError("train_ratios must be non-empty, each strictly between 0 and 1")
        if self.remaining is not None and (not self.remaining or any(not 0 <= f <= 1 for f in self.remaining)):
            raise ValueError("remaining fractions must be non-empty, each between 0 and 1")
        return self

    @property
    def fractions(self) -> tuple[float, ...]:
        """The remaining fractions in force (the paper's grid when none are given)."""
        return self.remaining if self.remaining is not None else PAPER_REMAINING[self.reduce]


class BenchmarkConfig(_Frozen):
    """Which identifiers the benchmark compares, and how class error rates are measured.

    error_split "random": error_models models, each on its own error_train_ratio split of the benchmark's
    (sub)set; "reference": every model trains on the first error_train_size samples of the whole shuffled
    dataset (regardless of data.subset_size, clean labels) and is tested on the rest, as the reference code
    (100 models, 10,000 of 70,000).
    """

    identifiers: tuple[str, ...] = ("stragglers", "confidence", "energy")
    error_models: int = Field(default=10, gt=0)
    error_split: Literal["random", "reference"] = "random"
    error_train_ratio: float = Field(default=0.8, gt=0, lt=1)
    error_train_size: int = Field(default=10000, gt=0)


class SearchConfig(_Frozen):
    """Optuna search over an identifier's settings; a trial is feasible when its hard fraction lies in
    [min_hard_fraction, max_hard_fraction]; storage None = optuna.db beside the MLflow SQLite store."""

    trials: int = Field(default=20, gt=0)
    train_ratio: float = Field(default=0.7, gt=0, lt=1)
    min_hard_fraction: float = Field(default=0.02, ge=0, lt=1)
    max_hard_fraction: float = Field(default=0.3, gt=0, le=1)
    storage: str | None = None
    study_name: str | None = None

    @model_validator(mode="after")
    def _fractions_ordered(self) -> SearchConfig:
        if self.min_hard_fraction >= self.max_hard_fraction:
            raise ValueError(f"min_hard_fraction {self.min_hard_fraction} must be < max_hard_fraction "
                             f"{self.max_hard_fraction}")
        return self


class TrackingConfig(_Frozen):
    """Where runs go: None means MLFLOW_TRACKING_URI if set, else the local ./mlruns SQLite store."""

    uri: str | None = None
    experiment: str = "hardness"


class Config(_Frozen):
    """Everything one `hardness run` needs; logged in full with every run."""

    seed: int = 0
    seeds: int = Field(default=5, gt=0)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    inversion: InversionConfig = InversionConfig()
    identifier: IdentifierConfig = IdentifierConfig()
    threshold: ThresholdConfig = ThresholdConfig()
    imbalance: ImbalanceConfig = ImbalanceConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    search: SearchConfig = SearchConfig()
    tracking: TrackingConfig = TrackingConfig()

    def flat(self) -> dict[str, Any]:
        """The config as dotted keys (`train.lr`) for logging as parameters."""
        return flatten(self.model_dump())


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {'a.b': value}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base` (override wins)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config, following `extends:` chains (relative to each file)."""
    path = Path(path)
    if not path.is_file():
        raise HardnessError(f"config file not found: {path}")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise HardnessError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(tree, dict):
        raise HardnessError(f"config file {path} must hold a mapping, not {type(tree).__name__}")
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    return merge(read_config_file(path.parent / parent), tree)


def parse_override(assignment: str) -> dict[str, Any]:
    """'train.lr=0.05' -> {'train': {'lr': 0.05}}; the value is parsed as YAML (numbers, null, lists)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise HardnessError(f"--set expects key=value, got {assignment!r}")
    value = yaml.safe_load(raw) if raw.strip() else None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def build_config(
    tree: dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = (), schema: type[BaseModel] = Config
) -> Any:
    """Validate a config tree plus `key=value` overrides into a frozen `schema` object."""
    merged = dict(tree or {})
    for assignment in overrides:
        merged = merge(merged, parse_override(assignment))
    try:
        return schema.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '<root>'}: {item['msg']}" for item in error.errors()
        )
        raise HardnessError(f"invalid config: {problems}") from None


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), schema: type[BaseModel] = Config
) -> Any:
    """Load `path` (or the defaults) and apply overrides; the one way every command builds its config."""
    tree = read_config_file(path) if path is not None else {}
    return build_config(tree, overrides, schema)


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML, the form logged beside every run."""
    return yaml.safe_dump(config.model_dump(), sort_keys=False)
