"""Typed, frozen run configuration: defaults live here, YAML files in configs/ and `--set` override them.

A config file may name others with `extends: other.yaml` or `extends: [base.yaml, preset.yaml]` (paths
relative to the file); its keys are merged over the bases. Unknown keys, unknown names and bad or inconsistent
values raise UserError listing what is wrong, before any store or run is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hardness.catalogue import DATASET_NAMES, DEVICES, IDENTIFIERS, INJECTION_TYPES, SOURCES
from hardness.errors import UserError
from hardness.redaction import redact_url


def check_name(kind: str, name: str, valid: tuple[str, ...]) -> str:
    """`name` if it is one of `valid`, else ValueError listing them (pydantic turns it into a config error)."""
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; choose from: {', '.join(valid)}")
    return name


INVERSION_UNUSED = "inversion_unused"
"""Validation context key: the caller will not apply the inversion rule, so its timing is not checked."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # lr=.inf trains nothing


class DataConfig(_Frozen):
    """Which samples to use and how to prepare them (SPEC section 1).

    Built-in datasets are read from `root`; a user's own data (name npz, csv, parquet or imagefolder) from `path`.
    Tables take `label_column` and every other numeric column as features (or `feature_columns`); image folders are
    resized to `image_size` (an int or [height, width]) and read as `grayscale` or RGB. `standardise`: `scalar` (one
    mean and std, for pixels), `feature` (per column, for tables) or `auto` (scalar for images, feature for tables).
    """

    name: str = "digits"
    root: str = "data"
    path: str | None = None
    download: bool = False
    subset_size: int | None = Field(default=None, gt=0)
    label_noise: float = Field(default=0.0, ge=0.0, lt=1.0)
    label_column: str = "label"
    feature_columns: tuple[str, ...] | None = None
    image_size: tuple[int, int] | None = None
    grayscale: bool = False
    standardise: Literal["auto", "scalar", "feature"] = "auto"

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return check_name("dataset", name, DATASET_NAMES)

    @field_validator("image_size", mode="before")
    @classmethod
    def _square(cls, size: Any) -> Any:
        return (size, size) if isinstance(size, int) and not isinstance(size, bool) else size

    @field_validator("image_size")
    @classmethod
    def _positive(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) <= 0:
            raise ValueError(f"image_size must be positive, got {list(size)}")
        return size

    @model_validator(mode="after")
    def _options_fit_the_source(self) -> DataConfig:
        if self.name in SOURCES and not self.path:
            raise ValueError(f"data.name {self.name} reads your own data: give its file or folder as data.path "
                             f"(--data-path)")
        used = {"path": self.path is not None, "label_column": self.label_column != "label",
                "feature_columns": self.feature_columns is not None, "image_size": self.image_size is not None,
                "grayscale": self.grayscale}
        for option, sources in _SOURCE_OPTIONS.items():
            if used[option] and self.name not in sources:
                raise ValueError(f"data.{option} applies to data.name {' or '.join(sources)}, not {self.name}")
        return self


_SOURCE_OPTIONS = {"path": tuple(SOURCES), "label_column": ("csv", "parquet"), "feature_columns": ("csv", "parquet"),
                   "image_size": ("imagefolder",), "grayscale": ("imagefolder",)}
"""The data options that only some sources read."""


class ModelConfig(_Frozen):
    """The network each of the K models is, and which of its layers the radii read.

    `arch`: `mlp` (the SPEC's fully connected net in -> width x depth -> n_classes, `activation`, radii of hidden layer
    `latent_layer`), `cnn` (a LeNet-5-style net for 1- or 3-channel images) or `resnet` (a CIFAR-style ResNet with
    `resnet_blocks` basic blocks per stage, 6n+2 layers, base width `resnet_width`: ResNet-20 by default). `module`:
    "package.module:factory", a user's own network, called as factory(n_classes, sample_shape). `backend`: `mlp`
    (the hand-written kernels, the MLP only), `module` (any nn.Module through torch.func) or `auto` (mlp when it can).
    `latent` names the module whose output the radii read on the module backend (default: the input of the last
    linear layer; for the MLP, hidden layer `latent_layer`). `dropout` (module backend) is drawn independently per
    model.
    """

    arch: Literal["mlp", "cnn", "resnet"] = "mlp"
    module: str | None = None
    backend: Literal["auto", "mlp", "module"] = "auto"
    width: int = Field(default=20, gt=0)
    depth: int = Field(default=2, gt=0)
    activation: Literal["tanh", "relu"] = "tanh"
    latent_layer: int = Field(default=0, ge=0)
    latent: str | None = None
    dropout: float = Field(default=0.0, ge=0, lt=1)
    resnet_width: int = Field(default=16, gt=0)
    resnet_blocks: int = Field(default=3, gt=0)

    @field_validator("latent", mode="before")
    @classmethod
    def _module_name(cls, name: Any) -> Any:
        return str(name) if isinstance(name, int) else name  # `--set model.latent=2` names module "2" of a Sequential

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.latent_layer >= self.depth:
            raise ValueError(f"latent_layer {self.latent_layer} must be < depth {self.depth}")
        if self.module is not None and (self.arch != "mlp" or ":" not in self.module):
            raise ValueError("model.module must look like 'package.module:factory' and replaces model.arch")
        if self.backend == "mlp" and self.uses_module_backend:
            raise ValueError("the mlp backend trains only the MLP, without dropout or a named latent module; "
                             "use model.backend=module")
        return self

    @property
    def uses_module_backend(self) -> bool:
        """Whether the network needs the torch.func backend (anything but the plain MLP, or when asked for)."""
        return (self.backend == "module" or self.arch != "mlp" or self.module is not None or self.dropout > 0
                or self.latent is not None)

    @property
    def name(self) -> str:
        """The architecture as tables show it: mlp, cnn, resnet-20 or the user's factory."""
        if self.module is not None:
            return self.module
        return f"resnet-{6 * self.resnet_blocks + 2}" if self.arch == "resnet" else self.arch


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
    threads: int | None = Field(default=None, gt=0)
    """torch's intra-op threads; None: the cores available to the process (1 per `hardness search` worker)."""
    device: str = "auto"
    """Where torch computes (hardness.engine.devices): auto = cuda when available, else cpu."""

    @field_validator("device")
    @classmethod
    def _known_device(cls, name: str) -> str:
        return check_name("device", name, DEVICES)


class InversionConfig(_Frozen):
    """When a class's radius turns from shrinking to growing, and how stragglers are taken (SPEC section 4)."""

    warmup: int = Field(default=20, ge=0)
    check_every: int = Field(default=5, gt=0)
    smoothing: int = Field(default=1, gt=0)
    mode: Literal["own", "last"] = "own"
    max_retries: int = Field(default=2, ge=0)
    stop_when_inverted: bool = False


class IdentifierConfig(_Frozen):
    """Which hard-sample identifier to run and its own options (SPEC section 5; the zoo's in docs/concepts/identifiers.md):
    loss_average (loss over epochs 1..E, not the final one), el2n_epoch / grand_epoch (the early epoch read, capped
    at train.epochs), vog_checkpoints (epochs spread over training), cleanlab_folds (cross-validation folds)."""

    name: str = "stragglers"
    init: Literal["shared", "fresh"] = "shared"
    confidence_variant: Literal["max_logit", "true_class_probability"] = "max_logit"
    temperature: float = Field(default=1.0, gt=0)
    loss_average: bool = False
    el2n_epoch: int = Field(default=20, ge=0)
    grand_epoch: int = Field(default=20, ge=0)
    vog_checkpoints: int = Field(default=10, ge=2)
    cleanlab_folds: int = Field(default=5, ge=2)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return check_name("identifier", name, IDENTIFIERS)


PAPER_REMAINING = {"easy": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0), "hard": (0.0, 0.25, 0.5, 0.75, 1.0)}


class ThresholdConfig(_Frozen):
    """How score identifiers become hard sets: like the stragglers' counts, a fixed top-k, a score quantile, or the
    identifier's own set (`own`, for identifiers that give both scores and a set)."""

    method: Literal["like_stragglers", "top_k", "quantile", "own"] = "like_stragglers"
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


ALL_IDENTIFIERS = "all"
"""benchmark.identifiers / detect.identifiers [all] (or `--identifiers all`) expands to every registered identifier."""


def check_identifiers(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` if they are known identifiers, none repeated; [all] gives every one (ValueError otherwise)."""
    if not names:
        raise ValueError("name at least one identifier")
    if ALL_IDENTIFIERS in names:
        if len(names) > 1:
            raise ValueError(f"{ALL_IDENTIFIERS!r} already names every identifier: give it alone")
        return IDENTIFIERS
    if len(set(names)) < len(names):
        raise ValueError(f"identifiers repeat: {', '.join(names)}")
    for name in names:
        check_name("identifier", name, IDENTIFIERS)
    return names


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

    @field_validator("identifiers")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_identifiers(names)


class DetectConfig(_Frozen):
    """The detection benchmark: hardness of each of `types` injected at each of `rates`, to be found by `identifiers`
    (every registered one by default); `reference_models` per fold of the cross-fitted ensemble whose confusions steer
    `adjacent` flips; `threshold` turns scores into hard sets (null: the top-level `threshold` section)."""

    types: tuple[str, ...] = ("uniform", "asymmetric", "adjacent", "atypical", "ood_noise")
    rates: tuple[float, ...] = (0.05, 0.1, 0.2)
    identifiers: tuple[str, ...] = IDENTIFIERS
    reference_models: int = Field(default=2, gt=0)
    threshold: ThresholdConfig | None = None

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        if not types or len(set(types)) < len(types):
            raise ValueError("name at least one injection type, none twice")
        for name in types:
            check_name("injection type", name, INJECTION_TYPES)
        return types

    @field_validator("rates")
    @classmethod
    def _fractions(cls, rates: tuple[float, ...]) -> tuple[float, ...]:
        if not rates or len(set(rates)) < len(rates) or any(not 0 < rate < 1 for rate in rates):
            raise ValueError("rates must be non-empty, none twice, each strictly between 0 and 1")
        return rates

    @field_validator("identifiers")
    @classmethod
    def _known_identifiers(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_identifiers(names)


class DiagnoseConfig(_Frozen):
    """`hardness diagnose`: the `identifiers` whose scores are the evidence (cleanlab's out-of-fold probabilities among
    them), `repeats` copies of the data with `label_types` flipped at `label_rate` each and `image_types` changed at
    `image_rate` each to calibrate on, the `target_precision` each verdict's threshold aims for, `bootstrap` resamples
    for its intervals, and `hard_quantile`: a seed flags a sample whose score is in its top 1 - hard_quantile."""

    identifiers: tuple[str, ...] = ("cleanlab", "aum", "datamaps", "loss", "energy")
    repeats: int = Field(default=3, gt=0)
    label_types: tuple[str, ...] = ("uniform", "asymmetric")
    label_rate: float = Field(default=0.05, gt=0, lt=0.5)
    image_types: tuple[str, ...] = ("atypical", "ood_noise")
    image_rate: float = Field(default=0.02, gt=0, lt=0.5)
    target_precision: float = Field(default=0.9, gt=0, lt=1)
    bootstrap: int = Field(default=200, ge=10)
    hard_quantile: float = Field(default=0.9, gt=0, lt=1)

    @field_validator("identifiers")
    @classmethod
    def _with_cleanlab(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        names = check_identifiers(names)
        if "cleanlab" not in names:
            raise ValueError("diagnose.identifiers must hold cleanlab: its out-of-fold probabilities suggest the labels")
        return names

    @field_validator("label_types", "image_types")
    @classmethod
    def _injections(cls, types: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kinds = {"label_types": ("uniform", "asymmetric"), "image_types": ("atypical", "ood_noise", "ood_digits")}
        if len(set(types)) < len(types):
            raise ValueError(f"diagnose.{info.field_name} repeat: {', '.join(types)}")
        for name in types:
            check_name(f"diagnose.{info.field_name} entry", name, kinds[info.field_name])
        return types

    @model_validator(mode="after")
    def _something_injected(self) -> DiagnoseConfig:
        if not self.label_types:
            raise ValueError("diagnose.label_types: name at least one label flip to calibrate label_error on")
        if (len(self.label_types) * self.label_rate + len(self.image_types) * self.image_rate) >= 0.5:
            raise ValueError("diagnose injects half the data or more: lower label_rate or image_rate")
        return self


class SearchConfig(_Frozen):
    """Optuna search over an identifier's settings; a trial is feasible when its hard fraction lies in
    [min_hard_fraction, max_hard_fraction]; storage None = optuna.db beside the MLflow SQLite store."""

    trials: int = Field(default=20, gt=0)
    study_trials: int | None = Field(default=None, gt=0)
    """The whole study's cap over every worker and rerun (None: no cap beyond each worker's `trials`)."""
    workers: int = Field(default=1, gt=0)
    """Local worker processes on the study, one torch thread each, each running `trials` trials."""
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


class ExecutorConfig(_Frozen):
    """Where the work units of imbalance, benchmark and detect run: `local` (this process, one after another) or
    `dask`: the Dask scheduler at `scheduler` (an address or a scheduler file), else a local cluster of `workers`
    single-threaded processes (None: one per core). It changes where units run, never their results."""

    kind: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    workers: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _options_fit_the_kind(self) -> ExecutorConfig:
        if self.kind == "local" and (self.scheduler is not None or self.workers is not None):
            raise ValueError("executor.scheduler and executor.workers apply to executor.kind dask (--executor dask)")
        if self.scheduler is not None and self.workers is not None:
            raise ValueError("executor.workers sizes the local Dask cluster: a scheduler's workers are started "
                             "with it (dask worker ADDRESS), so give one of --scheduler and --workers")
        return self


class TrackingConfig(_Frozen):
    """Where runs go: None means MLFLOW_TRACKING_URI if set, else the local ./mlruns SQLite store."""

    uri: str | None = None
    experiment: str = Field(default="hardness", min_length=1, max_length=500)
    """MLflow refuses empty names and names over 500 characters."""
    curve_every: int | None = Field(default=None, gt=0)
    """Per-epoch curves (radii, loss) go to MLflow as metrics at every n-th epoch and the last; None: about 100 points
    (every max(1, epochs // 100)-th, as many as MLflow's charts draw). Tables and figures keep every epoch."""
    datamap: bool = True
    """Identify, benchmark and diagnose runs log their data map (datamap.html: plotly.js, about 5 MB, and the samples);
    `hardness datamap --run-id` draws it again on demand, with other axes."""


class Config(_Frozen):
    """Everything one `hardness run` needs; logged in full with every run."""

    seed: int = Field(default=0, ge=0, lt=2**63)
    """Base seed; streams add small offsets to it (hardness.engine.seeds), which must stay within torch's 64 bits."""
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
    detect: DetectConfig = DetectConfig()
    diagnose: DiagnoseConfig = DiagnoseConfig()
    executor: ExecutorConfig = ExecutorConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _inversion_checked(self, info: ValidationInfo) -> Config:
        """The inversion rule must be able to fire within the budget; a caller that will not use it (the Python API
        scoring without stragglers) validates with the context {"inversion_unused": True}."""
        first = self.inversion.warmup + self.inversion.check_every
        if first > self.train.epochs and not (info.context or {}).get(INVERSION_UNUSED):
            raise ValueError(f"no inversion check can happen: the first is at epoch inversion.warmup + "
                             f"inversion.check_every = {first}, after train.epochs {self.train.epochs}; lower "
                             f"inversion.warmup or raise train.epochs")
        return self

    def redacted(self) -> Config:
        """This config with the secrets of its URLs (tracking.uri, search.storage) masked: the form that is logged."""
        return self.model_copy(update={
            "tracking": self.tracking.model_copy(update={"uri": self.tracking.uri and redact_url(self.tracking.uri)}),
            "search": self.search.model_copy(update={"storage": self.search.storage and redact_url(self.search.storage)}),
        })

    def flat(self) -> dict[str, Any]:
        """The config as dotted keys (`train.lr`) for logging as parameters, URL secrets masked."""
        return flatten(self.redacted().model_dump())


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


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; an error names `source` with line and column (`config file a.yaml:3:7 is not valid YAML`)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or type(error).__name__
        raise UserError(f"{where} is not valid YAML: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as error:  # e.g. PyYAML's date 2001-13-45
        raise UserError(f"{source} is not valid YAML: {error}") from None


MAX_EXTENDS_DEPTH = 16
"""How many files deep `extends:` may chain: far more than any real preset stack."""


def read_config_file(path: str | Path, chain: tuple[Path, ...] = (),
                     done: dict[Path, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Read a YAML config, following `extends:` (a path or a list of paths, relative to the file; later bases win,
    the file itself wins over all); a cycle, or a chain deeper than MAX_EXTENDS_DEPTH, is an error naming the chain.
    Each file is read once per load (`done`: resolved trees by path), however many files extend it: a diamond of
    files extending the same parents would otherwise be read exponentially often."""
    path = Path(path)
    done = {} if done is None else done
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    if path.resolve() in chain:
        names = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise UserError(f"config files extend each other in a cycle: {names}")
    if path.resolve() in done:
        return done[path.resolve()]
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise UserError(f"config file {chain[0]} extends files more than {MAX_EXTENDS_DEPTH} deep (via {path}): "
                        f"flatten the chain")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UserError(f"cannot read config file {path}: {reason}") from None
    tree = parse_yaml(text, f"config file {path}") or {}
    if not isinstance(tree, dict):
        raise UserError(f"config file {path} must hold a mapping, not {type(tree).__name__}")
    parents = tree.pop("extends", None)
    if parents is None:
        done[path.resolve()] = tree
        return tree
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise UserError(f"config file {path}: extends must be a path or a list of paths")
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = merge(merged, read_config_file(path.parent / parent, (*chain, path.resolve()), done))
    done[path.resolve()] = merge(merged, tree)
    return done[path.resolve()]


def parse_override(assignment: str) -> dict[str, Any]:
    """'train.lr=0.05' -> {'train': {'lr': 0.05}}; the value is parsed as YAML (numbers, null, lists)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set expects key=value, got {assignment!r}")
    value = parse_yaml(raw, f"--set {key.strip()}") if raw.strip() else None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def build_config(
    tree: dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = (), schema: type[BaseModel] = Config,
    *, context: dict[str, Any] | None = None
) -> Any:
    """Validate a config tree plus `key=value` overrides into a frozen `schema` object (`context`: the validators'
    pydantic context)."""
    merged = dict(tree or {})
    for assignment in overrides:
        merged = merge(merged, parse_override(assignment))
    try:
        return schema.model_validate(merged, context=context)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: ".removeprefix(": ")
                             + item["msg"].removeprefix("Value error, ") for item in error.errors())
        raise UserError(f"invalid config: {problems}") from None


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), schema: type[BaseModel] = Config
) -> Any:
    """Load `path` (or the defaults) and apply overrides; the one way every command builds its config."""
    tree = read_config_file(path) if path is not None else {}
    return build_config(tree, overrides, schema)


def dump_config(config: Config) -> str:
    """The resolved config as YAML, URL secrets masked: the form logged beside every run."""
    return yaml.safe_dump(config.redacted().model_dump(), sort_keys=False)
