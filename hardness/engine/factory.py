"""The one place an engine and its K initial models are built for a study: the backend the model config asks for."""

from __future__ import annotations

from functools import partial

import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.engine.architectures import build_network, default_latent, sample_shape
from hardness.engine.ensemble import Ensemble, build_ensemble
from hardness.engine.fit import Engine
from hardness.engine.modules import ModuleBackend, ModuleEnsemble, stack_mlp, stack_networks


def build_engine(config: Config, dataset: Dataset, model_seeds: list[int],
                 device: torch.device | None = None) -> tuple[Engine, Ensemble | ModuleEnsemble]:
    """The engine for `config.model` and `config.train` on `dataset`, and len(model_seeds) models, model k initialised
    from model_seeds[k], on `device` (default: the dataset's)."""
    device = dataset.x.device if device is None else device
    model = config.model
    if not model.uses_module_backend:
        engine = Engine(model, config.train, dataset.n_classes)
        return engine, build_ensemble(dataset.n_features, dataset.n_classes, model, model_seeds, device)
    shape = sample_shape(model, dataset.n_features, dataset.image_shape)
    build = partial(build_network, model, dataset.n_classes, shape)
    network = build()
    backend = ModuleBackend(network, shape, default_latent(model, network), dataset.n_classes, config.train)
    engine = Engine(model, config.train, dataset.n_classes, backend=backend)
    if model.arch == "mlp" and model.module is None:
        return engine, stack_mlp(network, dataset.n_features, dataset.n_classes, model, model_seeds, device)
    return engine, stack_networks(build, model_seeds, device)
