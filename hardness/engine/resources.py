"""The resource guard: estimate a fit's peak memory before training and refuse a request the machine cannot hold.

Models x samples decide it (`estimate_fit_bytes`, pure): per model the parameters, their gradients, the optimiser's
state and the copies the engine keeps (the caller's ensemble, the training one, the final one); per chunk of samples
the reused buffers of every layer's activations and deltas [K, width, chunk] and of the logits [K, C, chunk]; per
(model, sample) the training mask and sample weights, the observations [K, N] and, when stragglers are watched, the
correctness history; per epoch the loss [E+1, K] and radii [E+1, K, C]; the final logits [K, N, C] when predicted.
On the module backend (`NetworkProfile`) the chunk buffers become autograd's record of the network's activations
for a chunk (full batch) or a mini-batch of every model, and the observation pass's activations over a chunk.
An estimate, within a small factor of the measured peak (tests/test_resources.py). The guard refuses rather than
splitting the models into sequential groups: a group's matrix products round differently, so results would change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from hardness.config import Config, ModelConfig, TrainConfig
from hardness.datasets.prepare import Dataset
from hardness.engine.architectures import build_network, sample_shape
from hardness.engine.devices import resolve_device
from hardness.errors import UserError

FLOAT = 4
MEMINFO = Path("/proc/meminfo")
CGROUP_LIMITS = ((Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
                 (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
                  Path("/sys/fs/cgroup/memory/memory.usage_in_bytes")))
NO_LIMIT = 2 ** 60
"""cgroup v1 writes 'no limit' as a number near 2^63."""


@dataclass(frozen=True)
class FitShape:
    """What sizes one engine fit: K models, N samples of D features and C classes; `watched` records radii and the
    correctness history every epoch (stragglers), `predicted` computes final logits over all samples."""

    n_models: int
    n_samples: int
    n_features: int
    n_classes: int
    watched: bool = True
    predicted: bool = True


@dataclass(frozen=True)
class NetworkProfile:
    """What sizes a module-backend network: its parameters, the floats one sample's forward writes (the outputs of
    every leaf module) and the largest of those outputs."""

    n_params: int
    activations: int
    largest: int


def profile_network(network: torch.nn.Module, shape: tuple[int, ...]) -> NetworkProfile:
    """Count the network's parameters and, by a forward of one sample on the meta device, its activations."""
    template = copy.deepcopy(network).to("meta").eval()
    sizes: list[int] = []
    leaves = [module for module in template.modules() if not list(module.children())]
    handles = [leaf.register_forward_hook(lambda _, args, out: sizes.append(out.numel())) for leaf in leaves]
    with torch.no_grad():
        template(torch.empty(1, *shape, device="meta"))
    for handle in handles:
        handle.remove()
    return NetworkProfile(sum(p.numel() for p in network.parameters()), sum(sizes), max(sizes))


CHUNK_COPIES, BATCH_COPIES, LAYER_COPIES = 2, 3, 2
"""Autograd keeps about CHUNK_COPIES floats per activation of a trained full-batch chunk and BATCH_COPIES of a
mini-batch (the outputs it saves, the gradients flowing back, the vmap's temporaries, batch norm's copies); a forward
without gradients about LAYER_COPIES of its largest layer's output (fitted to measured peaks, tests/test_resources.py)."""


def _work_bytes(shape: FitShape, model: ModelConfig, train: TrainConfig, profile: NetworkProfile | None) -> tuple[int, int]:
    """(bytes per model of parameters, gradients and optimiser state; bytes of a pass's chunk or batch work)."""
    k, n, d, c = shape.n_models, shape.n_samples, shape.n_features, shape.n_classes
    states = {"sgd": (2 if train.momentum else 0), "adam": 3}[train.optimizer] + (1 if train.weight_decay else 0)
    chunk = min(train.chunk_size, n)
    batch = None if train.batch_size is None else min(train.batch_size, n)
    if profile is not None:
        if batch is None:
            work = k * profile.activations * CHUNK_COPIES * chunk
        else:  # a mini-batch's training, the gathered batch [K, B, D] and the observing pass over a chunk
            work = k * (profile.activations * BATCH_COPIES * batch + batch * d + profile.largest * LAYER_COPIES * chunk)
        return profile.n_params * (4 + states) * FLOAT, work * FLOAT
    sizes = [d] + [model.width] * model.depth + [c]
    params = sum(fan_in * out + out for fan_in, out in zip(sizes, sizes[1:]))
    per_column = model.width * (model.depth + 4) + 3 * c  # activations, deltas, slope, unit; logits, exp, gradient
    buffers = k * chunk * per_column * FLOAT
    if batch is not None:
        buffers += k * batch * (d + per_column) * FLOAT  # the gathered mini-batch [K, B, D] and its activations
    return params * (5 + states) * FLOAT, buffers  # 3 copies, the gradients and layer one's unfolded gradient


def estimate_fit_bytes(shape: FitShape, model: ModelConfig, train: TrainConfig,
                       profile: NetworkProfile | None = None) -> int:
    """Estimated peak bytes of one fit of `shape` (module docstring), the data itself excluded; `profile` for a
    network on the module backend."""
    k, n, c = shape.n_models, shape.n_samples, shape.n_classes
    per_model, buffers = _work_bytes(shape, model, train, profile)
    per_pair = 2 + FLOAT + 2  # training mask (twice), sample weights, correctness (observed and reordered)
    if shape.watched:
        per_pair += 3 + 2 * FLOAT  # history: current and initial state, changed mask; about two stored flips
    if shape.predicted:
        per_pair += c * FLOAT
    epochs = (train.epochs + 1) * k * (1 + (c if shape.watched else 0)) * FLOAT
    return per_model * k + buffers + k * n * per_pair + epochs


def parse_meminfo(text: str) -> int | None:
    """MemAvailable of /proc/meminfo in bytes, None when it is not there."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return int(value.split()[0]) * 1024
    return None


def parse_cgroup(limit: str, usage: str) -> int | None:
    """Bytes a cgroup still allows (limit minus usage), None without a limit ('max', or v1's huge number)."""
    limit = limit.strip()
    if limit == "max" or int(limit) >= NO_LIMIT:
        return None
    return max(0, int(limit) - int(usage.strip()))


def read_available_bytes(device: str = "cpu") -> int | None:
    """Memory this process can still use on `device` (a torch device type): for cuda the GPU's free memory, else the
    least of MemAvailable and what its cgroup allows; None if unknown."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    found = []
    if MEMINFO.is_file():
        found.append(parse_meminfo(MEMINFO.read_text()))
    for limit, usage in CGROUP_LIMITS:
        if limit.is_file() and usage.is_file():
            found.append(parse_cgroup(limit.read_text(), usage.read_text()))
            break
    known = [value for value in found if value is not None]
    return min(known) if known else None


def format_bytes(size: float) -> str:
    return f"{size / 2 ** 30:.1f} GiB" if size >= 2 ** 30 else f"{size / 2 ** 20:.0f} MiB"


def check_memory(needed: int, available: int | None, what: str, lever: str) -> None:
    """Refuse (UserError, exit 2) when `needed` bytes exceed `available` (unknown: allowed)."""
    if available is not None and needed > available:
        raise UserError(f"{what} needs about {format_bytes(needed)} of memory but {format_bytes(available)} is "
                        f"available: {lever}")


def grid_models(config: Config, cells_per_group: int | None = None) -> int:
    """The most models one imbalance-grid ensemble trains at once: plan_batches never mixes (hard set, train ratio)
    groups (default: the grid's remaining fractions per group) and takes at most models_per_batch // inits cells."""
    imbalance = config.imbalance
    cells = cells_per_group or len(imbalance.fractions)
    return min(max(1, imbalance.models_per_batch // imbalance.inits), cells) * imbalance.inits


def require_memory(config: Config, dataset: Dataset, n_models: int, *, lever: str) -> None:
    """Refuse a study whose largest fit (n_models models on the whole dataset, watched and predicted) would not fit in
    the memory available now on config.train.device; `lever` says which option to lower."""
    device = resolve_device(config.train.device).type
    where = "" if device == "cpu" else f" on {device}"
    shape = FitShape(n_models, dataset.n_samples, dataset.n_features, dataset.n_classes)
    profile = None
    if config.model.uses_module_backend:
        network_shape = sample_shape(config.model, dataset.n_features, dataset.image_shape)
        profile = profile_network(build_network(config.model, dataset.n_classes, network_shape), network_shape)
    check_memory(estimate_fit_bytes(shape, config.model, config.train, profile), read_available_bytes(device),
                 f"training {n_models} models on {dataset.n_samples} samples{where}", lever)
