"""Vectorised optimisers against torch.optim run model by model, including steps a model sits out."""

import pytest
import torch

from hardness.config import TrainConfig
from hardness.engine.optim import SGD, Adam, build_optimizer

K, STEPS = 3, 6
SHAPES = [(K, 4, 5), (K, 4)]
# model 2 sits out the first step (its state must not start before its own first step), model 1 steps 1 and 2
ACTIVE = torch.tensor([[True, True, False], [True, False, False], [True, False, True],
                       [True, True, True], [False, True, True], [True, True, True]])

OPTIMISERS = {
    "sgd": (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum-wd": (lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05),
                        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05)),
    "adam": (lambda p: Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-wd": (lambda p: Adam(p, lr=0.01, weight_decay=0.05),
                lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.05)),
}


def random_grads(step):
    generator = torch.Generator().manual_seed(100 + step)
    return [torch.randn(shape, generator=generator) for shape in SHAPES]


def state_of(optimizer):
    if isinstance(optimizer, SGD):
        return [b.clone() for b in optimizer.buffers if b is not None]
    return [t.clone() for t in optimizer.exp_avg + optimizer.exp_avg_sq] + [optimizer.steps.clone()]


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_masked_steps_match_torch_optim_per_model(name):
    ours_factory, torch_factory = OPTIMISERS[name]
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator) for shape in SHAPES]
    singles = [[p[k].clone().requires_grad_(True) for p in params] for k in range(K)]
    ours = ours_factory(params)
    references = [torch_factory(single) for single in singles]
    for step in range(STEPS):
        grads = random_grads(step)
        active = ACTIVE[step]
        before = [p.clone() for p in params]
        state_before = state_of(ours)
        ours.step(grads, active)
        for k in range(K):
            if active[k]:
                for single, grad in zip(singles[k], grads):
                    single.grad = grad[k].clone()
                references[k].step()
            else:
                for now, was in zip(params, before):
                    assert torch.equal(now[k], was[k])  # an inactive model is untouched ...
                for now, was in zip(state_of(ours), state_before):
                    if now.shape == was.shape:
                        assert torch.equal(now[k], was[k])  # ... and so is its optimiser state
            for p, single in zip(params, singles[k]):
                torch.testing.assert_close(p[k], single.detach(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_unmasked_steps_match_torch_optim(name):
    ours_factory, torch_factory = OPTIMISERS[name]
    params = [torch.ones(shape) for shape in SHAPES]
    singles = [[p[k].clone().requires_grad_(True) for p in params] for k in range(K)]
    ours, references = ours_factory(params), [torch_factory(single) for single in singles]
    for step in range(STEPS):
        grads = random_grads(step)
        ours.step(grads)
        for k in range(K):
            for single, grad in zip(singles[k], grads):
                single.grad = grad[k].clone()
            references[k].step()
    for k in range(K):
        for p, single in zip(params, singles[k]):
            torch.testing.assert_close(p[k], single.detach(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["sgd-momentum-wd", "adam"])
def test_select_keeps_the_state_of_the_kept_models(name):
    ours_factory, _ = OPTIMISERS[name]
    full = [torch.zeros(shape) for shape in SHAPES]
    ours = ours_factory(full)
    for step in range(3):
        ours.step(random_grads(step))
    keep = torch.tensor([0, 2])
    kept_params = [p[keep].clone() for p in full]
    kept = ours.select(keep, kept_params)
    grads = random_grads(9)
    ours.step(grads)
    kept.step([g[keep] for g in grads])
    for a, b in zip(full, kept_params):
        torch.testing.assert_close(a[keep], b)


def test_build_optimizer_follows_the_config():
    params = [torch.zeros(2, 3)]
    assert isinstance(build_optimizer(params, TrainConfig(optimizer="adam", lr=1e-3)), Adam)
    sgd = build_optimizer(params, TrainConfig(lr=0.5, momentum=0.9))
    assert isinstance(sgd, SGD) and sgd.lr == 0.5 and sgd.momentum == 0.9
