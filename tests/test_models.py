"""Stacked ensembles: shapes, per-seed initialisation, and the plain-module twin."""

import math

import torch
from torch import nn

from hardness.config import ModelConfig
from hardness.engine.ensemble import build_ensemble, build_module, copy_into_module, layer_sizes


def test_layer_sizes_follow_width_and_depth():
    assert layer_sizes(784, 10, ModelConfig(width=20, depth=2)) == [784, 20, 20, 10]
    assert layer_sizes(64, 3, ModelConfig(width=5, depth=1)) == [64, 5, 3]


def test_ensemble_shapes_and_parameter_order():
    ensemble = build_ensemble(7, 3, ModelConfig(width=4, depth=2), [1, 2, 3, 4])
    assert ensemble.n_models == 4
    assert [tuple(t.shape) for t in ensemble.parameters()] == [(4, 4, 7), (4, 4), (4, 4, 4), (4, 4), (4, 3, 4), (4, 3)]


def test_each_model_depends_only_on_its_own_seed_and_is_drawn_like_nn_linear():
    config = ModelConfig(width=6, depth=2)
    alone = build_ensemble(9, 3, config, [42])
    among = build_ensemble(9, 3, config, [1, 42, 7])
    for a, b in zip(alone.parameters(), among.parameters()):
        assert torch.equal(a[0], b[1])
    assert not torch.equal(among.weights[0][0], among.weights[0][1])
    for weight, bias in zip(among.weights, among.biases):
        bound = 1 / math.sqrt(weight.shape[2])
        assert weight.abs().max() <= bound and bias.abs().max() <= bound


def test_select_copies_rows():
    ensemble = build_ensemble(5, 2, ModelConfig(width=3, depth=1), [1, 2, 3])
    picked = ensemble.select(torch.tensor([2, 0]))
    assert torch.equal(picked.weights[0][0], ensemble.weights[0][2])
    picked.weights[0].zero_()
    assert ensemble.weights[0].abs().sum() > 0


def test_module_twin_has_the_same_architecture_and_weights():
    config = ModelConfig(width=4, depth=3, activation="relu")
    module = build_module(5, 2, config)
    assert [type(layer) for layer in module] == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
    ensemble = build_ensemble(5, 2, config, [3, 4])
    copy_into_module(ensemble, 1, module)
    linears = [layer for layer in module if isinstance(layer, nn.Linear)]
    for linear, weight, bias in zip(linears, ensemble.weights, ensemble.biases):
        assert torch.equal(linear.weight.detach(), weight[1]) and torch.equal(linear.bias.detach(), bias[1])
    assert isinstance(build_module(5, 2, ModelConfig(activation="tanh"))[1], nn.Tanh)
