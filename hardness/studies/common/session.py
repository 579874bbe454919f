"""The one preamble of every study shell: open the tracker, load the data, build the tags, start the run, log the config.

`open_session` does the first three once; `Session.run` starts (or resumes) a run of a given kind with the
standard tags and the full resolved config, and guarantees the run ends FINISHED, FAILED or KILLED on any exit
(Tracker.run). Study shells call these instead of repeating the preamble.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hardness.catalogue import IN_MEMORY
from hardness.config import Config, dump_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.engine.devices import resolve_device
from hardness.engine.threads import set_threads
from hardness.redaction import redact
from hardness.studies.common.checks import check_fits_data
from hardness.studies.common.footprint import check_reading_fits
from hardness.studies.common.tables import build_sample_table
from hardness.tracking import schema
from hardness.tracking.payloads import RunPayload
from hardness.tracking.tracker import Tracker, tracking_tags

if TYPE_CHECKING:
    import pandas as pd


def resume_key(config: Config, *parts: str) -> str:
    """Identifies an experiment for resuming: the resolved config (tracking and executor excluded) and extra parts."""
    # threads, the device and the executor change speed and place (and float rounding), not what is computed
    tree = config.model_dump(exclude={"tracking": True, "executor": True, "train": {"threads", "device"}})
    return hashlib.sha256((repr(tree) + "|".join(parts)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Session:
    """What a study shell works with: its config, the tracker, the prepared dataset and the tags every run carries."""

    config: Config
    tracker: Tracker
    dataset: Dataset
    tags: dict[str, str]

    def tags_for(self, kind: schema.Kind, identifier: str | None = None, **extra: str) -> dict[str, str]:
        """The standard tags plus the run kind (and identifier, and any extra tags)."""
        tags = {**self.tags, schema.KIND: str(kind), **extra}
        if identifier is not None:
            tags[schema.IDENTIFIER] = identifier
        return tags

    @contextmanager
    def run(self, name: str, kind: schema.Kind, *, identifier: str | None = None, key: str | None = None,
            resume_run_id: str | None = None, parent_run_id: str | None = None, params: dict | None = None,
            tags: dict[str, str] | None = None, config_file: Path | None = None,
            worker: str | None = None) -> Iterator[str]:
        """Start a run (resumed by resume `key` or `resume_run_id` when given) and yield its id.

        Top-level runs get every resolved config value as a param and config.yaml (plus the source file when
        given) and the samples table (samples.csv: original index, labels, class names, files) as artifacts; child
        runs get only `params`. `worker` shares the run between processes (Tracker.run).
        """
        top = parent_run_id is None
        all_params, all_tags = self._fields(kind, identifier, {**(self.config.flat() if top else {}), **(params or {})},
                                            tags)
        owner = ExitStack()
        if key is not None:
            if top and worker is None:  # one process at a time per study (search's workers share theirs on purpose)
                owner.enter_context(self.tracker.owning(key))
            resume_run_id = resume_run_id or self.tracker.find_run_by_tag(schema.RESUME_KEY, key)
            all_tags[schema.RESUME_KEY] = key
        with owner, self.tracker.run(name, parent_run_id=parent_run_id, params=all_params, tags=all_tags,
                                     resume_run_id=resume_run_id, worker=worker) as run_id:
            if top and resume_run_id is None:
                self.tracker.set_tags(run_id, {schema.NOTE: f"`{command_line(self.config)}`"})
                self.tracker.log_dataset(run_id, **describe_dataset(self.config, self.dataset))
                self.tracker.log_text(run_id, dump_config(self.config), schema.CONFIG)
                self.tracker.log_table(run_id, build_sample_table(self.dataset), schema.SAMPLES)
                if config_file is not None:  # the user's file, its URL secrets masked like the resolved config's
                    source = redact(config_file.read_text(), self.config.tracking.uri, self.config.search.storage)
                    self.tracker.log_text(run_id, source, f"{schema.CONFIG_SOURCE}/{config_file.name}")
            yield run_id

    def child(self, name: str, kind: schema.Kind, *, identifier: str | None = None, params: dict | None = None,
              tags: dict[str, str] | None = None, series: Mapping[str, Sequence[float]] | None = None,
              steps: Sequence[int] = (), metrics: Mapping[str, float] | None = None,
              tables: Mapping[str, pd.DataFrame] | None = None) -> RunPayload:
        """A child run described as data, with the params and tags `run` gives a child; written by
        `tracker.child_writer(parent)` (series: {name: values[i] at steps[i]}, tables: {artifact file: frame})."""
        all_params, all_tags = self._fields(kind, identifier, params or {}, tags)
        return RunPayload(name, all_params, all_tags, series or {}, steps, metrics or {}, tables or {})

    def _fields(self, kind: schema.Kind, identifier: str | None, params: dict,
                tags: dict[str, str] | None) -> tuple[dict, dict[str, str]]:
        """A run's params (plus the identifier) and tags (the standard ones, the kind, the identifier, then `tags`)."""
        if identifier is not None:
            params = {**params, schema.IDENTIFIER_PARAM: identifier}
        return params, {**self.tags_for(kind, identifier), **(tags or {})}

    def describe(self, run_id: str, headline: str) -> None:
        """The run's description (mlflow.note.content): the command line and the headline result."""
        self.tracker.set_tags(run_id, {schema.NOTE: f"`{command_line(self.config)}`\n\n{headline}"})


def command_line(config: Config) -> str:
    """The command that started this process, URL secrets masked."""
    return redact(shlex.join(["hardness", *sys.argv[1:]]), config.tracking.uri, config.search.storage)


def describe_dataset(config: Config, dataset: Dataset) -> dict[str, str]:
    """The dataset as an MLflow dataset input: name, digest (the fingerprint), source and tensor schema."""
    features = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, dataset.n_features]}}]
    targets = [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    spec = {"mlflow_tensorspec": {"features": json.dumps(features), "targets": json.dumps(targets)}}
    return {"name": dataset.name, "digest": dataset.fingerprint[:36], "source": json.dumps({"uri": dataset_source(config)}),
            "source_type": "local", "schema_json": json.dumps(spec)}


def dataset_source(config: Config) -> str:
    """Where the data came from: the user's file or folder, the dataset root, or the bundled digits."""
    path = getattr(config.data, "path", None)
    if path:
        return str(Path(path).resolve())
    if config.data.name == "digits":
        return "sklearn.datasets.load_digits"
    if config.data.name == IN_MEMORY:
        return "python:in-memory arrays"
    return str(Path(config.data.root).resolve())


def open_session(config: Config, *, tracker: Tracker | None = None, default_threads: int | None = None,
                 dataset: Dataset | None = None) -> Session:
    """Check that train.device is usable here, open the configured tracking store (or use `tracker`), load and prepare
    the dataset (or take `dataset`, prepared from data in memory), check that the config fits it, set torch's threads
    (train.threads, else `default_threads`, else the cores available), build the base tags (the threads, the resolved
    device and the data's location among them). Nothing here starts a run, so a refusal here leaves no run behind."""
    device = resolve_device(config.train.device)
    tracker = tracker or Tracker(config.tracking.uri, config.tracking.experiment)
    if dataset is None:
        check_reading_fits(config.data)
        dataset = load_dataset(config.data, config.seed)
    check_fits_data(config, dataset)
    threads = set_threads(config.train.threads, default=default_threads)
    tags = {**tracking_tags(), schema.DATASET: dataset.name, schema.FINGERPRINT: dataset.fingerprint,
            schema.THREADS: str(threads), schema.DEVICE: device.type, schema.DATA_SOURCE: dataset_source(config)}
    return Session(config, tracker, dataset, tags)
