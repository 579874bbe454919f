"""Where torch computes: `train.device` (`--device`) resolved to a torch.device, and data moved there and back.

auto picks cuda when torch sees a CUDA GPU, else the cpu; mps is refused (Apple GPUs have no float64, in which the
engine sums radii and losses). Computations follow the device of the data they are given (`dataset.x.device`); study
shells keep their data on the CPU for tables and logging, so each computation entry moves its dataset in once
(`place`) and its results back (`to_cpu`). Random draws stay on the CPU everywhere, so every device trains the same
models on the same splits.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any

import torch

from hardness.catalogue import DEVICES
from hardness.errors import EnvironmentProblem

CPU = torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """The torch.device for `name` (one of catalogue.DEVICES); a device torch cannot use here is EnvironmentProblem."""
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else CPU
    if name == "cpu":
        return CPU
    if name == "mps":
        raise EnvironmentProblem("train.device is mps, but Apple GPUs have no float64, in which the engine sums radii "
                                 "and losses: use --device cpu")
    if name != "cuda":
        raise ValueError(f"unknown device {name!r}; choose from: {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        build = "" if torch.version.cuda else " (this torch build has no CUDA)"
        raise EnvironmentProblem(f"train.device is cuda, but torch {torch.__version__} sees no CUDA GPU{build}: use "
                                 f"--device cpu or auto")
    return torch.device("cuda")


def move(value: Any, device: torch.device) -> Any:
    """`value` with every tensor in it on `device`: tensors, dataclasses, dicts, lists and tuples, recursively; other
    values as they are (a tensor already there is not copied)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: move(getattr(value, f.name), device) for f in fields(value) if f.init})
    if isinstance(value, dict):
        return {key: move(item, device) for key, item in value.items()}
    if isinstance(value, list) or type(value) is tuple:
        return type(value)(move(item, device) for item in value)
    return value


def place(dataset: Any, config: Any) -> Any:
    """The dataset (any value holding tensors) on config.train.device."""
    return move(dataset, resolve_device(config.train.device))


def to_cpu(value: Any) -> Any:
    """Results on the CPU, where tables, numpy and the tracker read them."""
    return move(value, CPU)
