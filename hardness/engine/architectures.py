"""The networks the module backend stacks: the SPEC's MLP, a LeNet-5-style CNN, a CIFAR-style ResNet, or a user's own
factory ("package.module:factory", called with the number of classes and the sample shape).

Each builder returns one plain `nn.Module` taking a batch [P, *sample_shape]; `default_latent` names the module whose
output the radii read when `model.latent` is not given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional

from hardness.config import ModelConfig
from hardness.errors import UserError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def build_mlp(n_features: int, n_classes: int, config: ModelConfig) -> nn.Sequential:
    """in -> (Linear, activation[, Dropout]) x depth -> Linear: the mlp backend's layers, in the same order."""
    sizes = [n_features] + [config.width] * config.depth
    layers: list[nn.Module] = []
    for fan_in, out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, out), ACTIVATIONS[config.activation]()]
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
    layers.append(nn.Linear(sizes[-1], n_classes))
    return nn.Sequential(*layers)


def build_cnn(image_shape: tuple[int, int, int], n_classes: int, config: ModelConfig) -> nn.Sequential:
    """LeNet-5's layout (conv 6, pool, conv 16, pool, 120, 84, classes) with 'same' padding, so any image of at
    least 4 x 4 pixels fits (MNIST's 28 x 28 gives 16 x 7 x 7 features, CIFAR's 32 x 32 16 x 8 x 8)."""
    channels, height, width = image_shape
    act = ACTIVATIONS[config.activation]
    classifier: list[nn.Module] = [nn.Flatten(), nn.Linear(16 * (height // 4) * (width // 4), 120), act()]
    classifier += [nn.Dropout(config.dropout)] if config.dropout else []
    classifier += [nn.Linear(120, 84), act(), nn.Linear(84, n_classes)]
    return nn.Sequential(nn.Conv2d(channels, 6, 5, padding=2), act(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, padding=2), act(), nn.MaxPool2d(2), *classifier)


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with batch norm; the shortcut is a strided 1 x 1 convolution where the shape changes."""

    def __init__(self, fan_in: int, out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(fan_in, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = nn.Identity() if stride == 1 and fan_in == out else nn.Sequential(
            nn.Conv2d(fan_in, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = functional.relu(self.bn1(self.conv1(x)))
        return functional.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def build_resnet(image_shape: tuple[int, int, int], n_classes: int, config: ModelConfig) -> nn.Sequential:
    """He et al.'s CIFAR ResNet-(6n+2): a 3 x 3 stem, three stages of n blocks at widths w, 2w, 4w (strides 1, 2, 2),
    global average pooling and a linear classifier."""
    w, blocks = config.resnet_width, config.resnet_blocks
    layers: list[nn.Module] = [nn.Conv2d(image_shape[0], w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
    fan_in = w
    for stage, out in enumerate((w, 2 * w, 4 * w)):
        for block in range(blocks):
            layers.append(BasicBlock(fan_in, out, 2 if stage > 0 and block == 0 else 1))
            fan_in = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers += [nn.Dropout(config.dropout)] if config.dropout else []
    return nn.Sequential(*layers, nn.Linear(fan_in, n_classes))


def load_factory(reference: str) -> Callable[[int, tuple[int, ...]], nn.Module]:
    """The callable named "package.module:factory"; UserError when it cannot be imported."""
    module_name, _, attribute = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UserError(f"model.module {reference!r} cannot be loaded: {error}") from None
    if not callable(factory):
        raise UserError(f"model.module {reference!r} is not callable")
    return factory


def sample_shape(config: ModelConfig, n_features: int, image_shape: tuple[int, int, int] | None) -> tuple[int, ...]:
    """The shape one sample has when it enters the network: flat for the MLP, (C, H, W) for images otherwise."""
    if config.arch in ("cnn", "resnet") and image_shape is None:
        raise UserError(f"model.arch {config.arch} needs images, and these data are a table of {n_features} features; "
                        "use model.arch=mlp")
    if config.arch == "mlp" and config.module is None:
        return (n_features,)
    return image_shape or (n_features,)


def build_network(config: ModelConfig, n_classes: int, shape: tuple[int, ...]) -> nn.Module:
    """One freshly initialised network (torch's default initialisation, from the global generator)."""
    if config.module is not None:
        network = load_factory(config.module)(n_classes, shape)
        if not isinstance(network, nn.Module):
            raise UserError(f"model.module {config.module!r} returned {type(network).__name__}, not an nn.Module")
        return network
    if config.arch == "mlp":
        return build_mlp(shape[0], n_classes, config)
    builder = build_cnn if config.arch == "cnn" else build_resnet
    return builder(shape, n_classes, config)


def default_latent(config: ModelConfig, network: nn.Module) -> str:
    """The module whose output the radii read: `model.latent`, the MLP's hidden layer `latent_layer` (after its
    activation, as the mlp backend reads it), or else the input of the last linear layer ("<name>:input")."""
    if config.latent is not None:
        names = dict(network.named_modules())
        if config.latent.removesuffix(":input") not in names:
            choices = ", ".join(name for name in names if name)
            raise UserError(f"model.latent {config.latent!r} is not a module of the network; choose from: {choices}")
        return config.latent
    if config.arch == "mlp" and config.module is None:
        step = 3 if config.dropout else 2
        return str(step * config.latent_layer + 1)
    linears = [name for name, module in network.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise UserError("the network has no nn.Linear layer to read the radii from: set model.latent")
    return f"{linears[-1]}:input"
