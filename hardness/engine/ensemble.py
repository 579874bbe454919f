"""The SPEC's fully connected network, as K independently initialised models stacked into one set of tensors.

Layer l of all K models is one tensor `weights[l]` of shape [K, out, in] (bias [K, out]), so one matrix
product serves every model. `build_module` gives the same network as a plain `nn.Module` for one model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hardness.config import ModelConfig


@dataclass
class Ensemble:
    """Stacked parameters of K models: weights[l] is [K, out, in], biases[l] is [K, out]."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[torch.Tensor]:
        """Weights and biases interleaved per layer (w0, b0, w1, b1, ...), the order optimisers use."""
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def tensors(self) -> list[torch.Tensor]:
        """Everything a model's state is: its parameters (the module backend's ensembles add buffers)."""
        return self.parameters()

    def select(self, models: torch.Tensor) -> Ensemble:
        """A copy holding only the given model rows."""
        return Ensemble([w[models].clone() for w in self.weights], [b[models].clone() for b in self.biases])


def layer_sizes(n_features: int, n_classes: int, config: ModelConfig) -> list[int]:
    """[in, width, ..., width, n_classes] for the configured depth."""
    return [n_features] + [config.width] * config.depth + [n_classes]


def build_ensemble(n_features: int, n_classes: int, config: ModelConfig, model_seeds: list[int],
                   device: torch.device | str = "cpu") -> Ensemble:
    """K models, model k drawn from its own generator seeded with model_seeds[k], then moved to `device`.

    Each layer is drawn like `nn.Linear`'s default: weight then bias, both U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The
    draws happen on the CPU, so every device starts from the same models.
    """
    sizes = layer_sizes(n_features, n_classes, config)
    weights = [torch.empty(len(model_seeds), out, fan_in, device="cpu") for fan_in, out in zip(sizes, sizes[1:])]
    biases = [torch.empty(len(model_seeds), out, device="cpu") for out in sizes[1:]]
    for k, seed in enumerate(model_seeds):
        generator = torch.Generator(device="cpu").manual_seed(seed)
        for weight, bias in zip(weights, biases):
            bound = 1.0 / math.sqrt(weight.shape[2])
            weight[k] = torch.rand(weight.shape[1:], generator=generator, device="cpu") * (2 * bound) - bound
            bias[k] = torch.rand(bias.shape[1:], generator=generator, device="cpu") * (2 * bound) - bound
    return Ensemble([w.to(device) for w in weights], [b.to(device) for b in biases])


def build_module(n_features: int, n_classes: int, config: ModelConfig) -> nn.Sequential:
    """One plain model of the same architecture (the reference the ensemble is tested against)."""
    sizes = layer_sizes(n_features, n_classes, config)
    activation = {"tanh": nn.Tanh, "relu": nn.ReLU}[config.activation]
    layers: list[nn.Module] = []
    for fan_in, out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, out), activation()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def copy_into_module(ensemble: Ensemble, model: int, module: nn.Sequential) -> nn.Sequential:
    """Load model `model` of the ensemble into a plain module built by `build_module`."""
    linears = [layer for layer in module if isinstance(layer, nn.Linear)]
    with torch.no_grad():
        for linear, weight, bias in zip(linears, ensemble.weights, ensemble.biases):
            linear.weight.copy_(weight[model])
            linear.bias.copy_(bias[model])
    return module
