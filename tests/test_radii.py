"""Radii of class manifolds and the inversion rule, against definitions and hand-made curves."""

import math

import pytest
import torch

from hardness.config import InversionConfig
from hardness.engine.radii import compute_class_sums, compute_radii, compute_radii_from_sums
from hardness.identifiers.inversion import compute_inversion_epochs, compute_inverted_now, is_check_epoch, smooth_radii


def pairwise_radius(latent: torch.Tensor) -> float:
    """SPEC definition: R^2 = 1/(2 n^2) sum_{x,y} |u_x - u_y|^2 with u = z/|z| (the n x n way)."""
    unit = latent.double() / latent.double().norm(dim=1, keepdim=True)
    distances = torch.cdist(unit, unit) ** 2
    return math.sqrt(distances.sum().item() / (2 * len(unit) ** 2))


def test_closed_form_radii_equal_the_pairwise_definition_for_every_model_and_class():
    generator = torch.Generator().manual_seed(0)
    k, n, width, n_classes = 4, 200, 6, 3
    latent = torch.randn(k, n, width, generator=generator) + torch.rand(k, 1, width, generator=generator)
    labels = torch.randint(0, n_classes, (n,), generator=generator)
    radii = compute_radii(latent, labels, n_classes)
    assert radii.shape == (k, n_classes)
    for model in range(k):
        for label in range(n_classes):
            expected = pairwise_radius(latent[model, labels == label])
            assert radii[model, label].item() == pytest.approx(expected, abs=1e-5)


def test_single_model_input_and_planted_radii():
    # class 0: all samples on one direction (radius 0); class 1: two opposite directions (radius 1)
    latent = torch.tensor([[2.0, 0.0], [5.0, 0.0], [0.0, 1.0], [0.0, -3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    radii = compute_radii(latent, labels, 3)
    assert radii.shape == (3,)
    assert radii[0].item() == pytest.approx(0.0, abs=1e-6)
    assert radii[1].item() == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(radii[2].item())  # an empty class has no radius


def test_class_sums_add_up_over_chunks():
    generator = torch.Generator().manual_seed(1)
    latent = torch.randn(2, 50, 4, generator=generator)
    labels = torch.randint(0, 3, (50,), generator=generator)
    sums, sums_sq = compute_class_sums(latent, labels, 3)
    parts = [compute_class_sums(latent[:, s:s + 20], labels[s:s + 20], 3) for s in (0, 20, 40)]
    # sums come out in float64 but are accumulated in float32 within one call
    torch.testing.assert_close(sums, sum(p[0] for p in parts), atol=1e-5, rtol=0)
    torch.testing.assert_close(sums_sq, sum(p[1] for p in parts), atol=1e-5, rtol=0)
    counts = torch.bincount(labels, minlength=3)
    torch.testing.assert_close(compute_radii_from_sums(sums, sums_sq, counts), compute_radii(latent, labels, 3))


def test_smoothing_is_a_trailing_mean_over_what_exists():
    radii = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [6.0, 60.0]])
    assert torch.equal(smooth_radii(radii, 1), radii)
    expected = torch.tensor([[1.0, 10.0], [1.5, 15.0], [2.0, 20.0], [11 / 3, 110 / 3]])
    torch.testing.assert_close(smooth_radii(radii, 3), expected)


def test_check_epochs_follow_the_warm_up():
    rule = InversionConfig(warmup=20, check_every=5)
    assert [e for e in range(41) if is_check_epoch(e, rule)] == [25, 30, 35, 40]
    assert [e for e in range(12) if is_check_epoch(e, InversionConfig(warmup=0, check_every=3))] == [3, 6, 9]


def curve(values):
    return torch.tensor(values, dtype=torch.float32)


def test_inversion_at_the_first_check_where_the_radius_grows():
    rule = InversionConfig(warmup=4, check_every=2)
    # checks at 6, 8, 10, 12: shrinking until 8, growing from 9 on -> 10 is the first check above its predecessor
    shrink_then_grow = curve([9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 5])
    never = curve([13 - e for e in range(13)])
    early_growth = curve([1, 2, 3, 4, 5, 4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2])  # grows only inside the warm-up
    epochs = compute_inversion_epochs(torch.stack([shrink_then_grow, never, early_growth], dim=1), rule)
    assert epochs.tolist() == [10, -1, -1]


def test_inversion_epochs_work_per_model_and_class():
    rule = InversionConfig(warmup=0, check_every=1)
    radii = torch.tensor([[[3.0, 3.0]], [[2.0, 4.0]], [[2.5, 5.0]]])  # [E+1, K=1, classes=2]
    assert compute_inversion_epochs(radii, rule).tolist() == [[2, 1]]


@pytest.mark.parametrize("smoothing", [1, 3])
def test_online_inversion_agrees_with_the_offline_rule_at_every_epoch(smoothing):
    rule = InversionConfig(warmup=5, check_every=3, smoothing=smoothing)
    generator = torch.Generator().manual_seed(smoothing)
    epochs = 60
    t = torch.arange(epochs + 1, dtype=torch.float32).view(-1, 1)
    turn = torch.randint(5, 70, (1, 12), generator=generator).float()  # some curves never turn
    radii = (t - turn).abs() / 10 + 0.05 * torch.rand(epochs + 1, 12, generator=generator)
    offline = compute_inversion_epochs(radii, rule)
    online = torch.full((12,), -1)
    for epoch in range(epochs + 1):
        if not is_check_epoch(epoch, rule):
            continue
        now = compute_inverted_now(radii, epoch, rule)
        online[now & (online < 0)] = epoch
    assert torch.equal(online, offline)
    assert (offline >= 0).any() and (offline < 0).any()
