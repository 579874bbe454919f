"""A user's own network for the tests: what `model.module: "tests.networks:tiny_cnn"` names."""

from torch import nn


def tiny_cnn(n_classes: int, sample_shape: tuple[int, ...]) -> nn.Module:
    """One 3 x 3 convolution with 4 channels, pooled to 2 x 2, then a linear layer; takes (C, H, W) images."""
    return nn.Sequential(nn.Conv2d(sample_shape[0], 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, n_classes))


def not_a_module(n_classes: int, sample_shape: tuple[int, ...]) -> str:
    return "a network"
