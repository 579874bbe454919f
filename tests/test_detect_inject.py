"""Injections of `hardness detect` against planted expectations: counts, labels, pixels, refusals, determinism."""

import pytest
import torch
from scipy import stats

from hardness.catalogue import DATASETS, IMAGE_SHAPES, INJECTION_TYPES
from hardness.config import DataConfig, load_config
from hardness.datasets.prepare import Dataset, load_dataset
from hardness.errors import ExitCode, UserError
from hardness.studies.detect.inject import INJECTORS, check_injectable, inject, most_confused, sample_weighted
from hardness.studies.detect.pixels import frame_digits, load_digit_images, standardise, to_pixels
from hardness.studies.detect.reference import build_fold_masks, compute_reference_probabilities

RATE = 0.1


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(), seed=0)


def fake_dataset(name, pixels, image_shape=None, n_classes=10, seed=0):
    """A prepared Dataset of pixels [N, D] in [0, 1] (images of image_shape (C, H, W), or a table when None) with
    random labels, standardised as hardness.datasets.prepare prepares images."""
    labels = torch.randint(0, n_classes, (pixels.shape[0],), generator=torch.Generator().manual_seed(seed))
    return Dataset(name=name, x=standardise(pixels), y=labels, clean_y=labels, index=torch.arange(pixels.shape[0]),
                   n_classes=n_classes, flipped=torch.empty(0, dtype=torch.int64), fingerprint="0" * 16,
                   image_shape=image_shape)


def random_images(n, shape, seed=1):
    """n random images of shape (C, H, W), with a blank and a full pixel as real ones have."""
    pixels = torch.rand(n, shape[0] * shape[1] * shape[2], generator=torch.Generator().manual_seed(seed))
    pixels[0, 0], pixels[0, 1] = 0.0, 1.0
    return pixels


@pytest.fixture(scope="module")
def mnist_like():
    """400 random 28 x 28 grey images named mnist."""
    return fake_dataset("mnist", random_images(400, (1, 28, 28)), (1, 28, 28))


def planted_probabilities(dataset, weights):
    """Class probabilities [N, C]: `weights[n]` on class y + 3 mod C, the rest on the sample's own class."""
    n = dataset.n_samples
    probabilities = torch.zeros(n, dataset.n_classes)
    probabilities[torch.arange(n), dataset.y] = 1 - weights
    probabilities[torch.arange(n), (dataset.y + 3) % dataset.n_classes] = weights
    return probabilities


def injected(dataset, type, rate=RATE, seed=0):
    probabilities = planted_probabilities(dataset, torch.rand(dataset.n_samples, generator=torch.Generator()
                                                              .manual_seed(7)) * 0.5) if type == "adjacent" else None
    return inject(dataset, type, rate, seed, probabilities=probabilities)


def test_every_catalogue_type_has_an_injector_and_images_match_the_catalogue():
    assert set(INJECTORS) == set(INJECTION_TYPES)
    assert all(h * w == DATASETS[name].n_features for name, (h, w) in IMAGE_SHAPES.items())


def test_pixels_are_recovered_from_the_prepared_digits(digits):
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().data).float() / 16
    assert torch.allclose(to_pixels(digits.x), raw[digits.index], atol=1e-6)
    assert digits.image_shape == (1, 8, 8)


@pytest.mark.parametrize("type", ["uniform", "asymmetric", "adjacent"])
def test_label_types_flip_exactly_the_injected_count(digits, type):
    injection = injected(digits, type)
    count = round(RATE * digits.n_samples)
    assert injection.count == count == int(injection.mask.sum())
    assert torch.equal(injection.dataset.y != digits.y, injection.mask)
    assert torch.equal(injection.dataset.x, digits.x) and torch.equal(injection.dataset.clean_y, digits.clean_y)
    assert torch.equal(injection.dataset.flipped, digits.index[injection.mask].sort().values)
    assert injection.dataset.fingerprint != digits.fingerprint


def test_asymmetric_flips_to_the_next_class(digits):
    injection = injected(digits, "asymmetric")
    mask = injection.mask
    assert torch.equal(injection.dataset.y[mask], (digits.y[mask] + 1) % digits.n_classes)


def test_adjacent_flips_to_the_most_confused_class_and_prefers_confused_samples(digits):
    n = digits.n_samples
    weights = torch.full((n,), 0.001)
    weights[: n // 4] = 0.4  # the first quarter is confusable, with class y + 3
    injection = inject(digits, "adjacent", RATE, 0, probabilities=planted_probabilities(digits, weights))
    mask = injection.mask
    assert torch.equal(injection.dataset.y[mask], (digits.y[mask] + 3) % digits.n_classes)
    assert mask[: n // 4].sum() >= 0.9 * injection.count


def test_most_confused_ignores_the_own_class():
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    target, weight = most_confused(probabilities, torch.tensor([0, 2]))
    assert target.tolist() == [1, 1] and torch.allclose(weight, torch.tensor([0.2, 0.3]))


def test_weighted_sampling_draws_zero_weights_last():
    weights = torch.tensor([0.0, 1.0, 0.0, 2.0, 3.0, 0.0])
    for seed in range(5):
        drawn = sample_weighted(weights, 3, torch.Generator().manual_seed(seed))
        assert drawn.tolist() == [1, 3, 4]
    assert len(set(sample_weighted(weights, 5, torch.Generator().manual_seed(0)).tolist())) == 5


def test_atypical_changes_only_the_chosen_images(digits):
    injection = injected(digits, "atypical")
    before, after = to_pixels(digits.x), to_pixels(injection.dataset.x)
    mask = injection.mask
    assert injection.count == round(RATE * digits.n_samples)
    assert torch.allclose(before[~mask], after[~mask], atol=1e-5)
    assert ((before[mask] - after[mask]).abs().amax(1) > 0.05).all()
    assert torch.equal(injection.dataset.y, digits.y)
    std, mean = torch.std_mean(injection.dataset.x, correction=0)  # standardised again with the subset's statistics
    assert abs(float(mean)) < 1e-5 and abs(float(std) - 1) < 1e-5


def test_ood_noise_images_come_from_the_uniform_noise(digits):
    injection = injected(digits, "ood_noise")
    before, after = to_pixels(digits.x), to_pixels(injection.dataset.x)
    mask = injection.mask
    assert torch.allclose(before[~mask], after[~mask], atol=1e-5)
    noise = after[mask].flatten()
    assert float(noise.min()) >= -1e-6 and float(noise.max()) <= 1 + 1e-6
    assert stats.kstest(noise.numpy(), "uniform").pvalue > 0.01  # digits pixels (mostly 0) would fail it at once
    assert torch.equal(injection.dataset.y, digits.y)


def test_ood_digits_puts_framed_digits_into_28x28_images(mnist_like):
    injection = injected(mnist_like, "ood_digits")
    after = to_pixels(injection.dataset.x)[injection.mask]
    framed = frame_digits(load_digit_images()[0], (1, 28, 28)).reshape(-1, 784)
    distance = torch.cdist(after, framed, compute_mode="donot_use_mm_for_euclid_dist")
    assert distance.amin(1).max() < 1e-4  # every injected image is one of the framed digits
    images = after.reshape(-1, 28, 28)
    assert images[:, :4].abs().max() < 1e-5 and images[:, :, -4:].abs().max() < 1e-5  # blank margin, as in MNIST


@pytest.mark.parametrize("type", ["atypical", "ood_digits"])
def test_colour_images_change_in_every_channel_alike(type):
    shape = (3, 12, 12)
    colour = fake_dataset("cifar10", random_images(60, shape), shape)
    injection = inject(colour, type, RATE, 0)
    before, after = to_pixels(colour.x), to_pixels(injection.dataset.x)
    assert torch.allclose(before[~injection.mask], after[~injection.mask], atol=1e-5)
    assert ((before - after).abs().amax(1) > 0.05).sum() == injection.count == 6
    if type == "ood_digits":  # a grey digit: the same in the three channels
        images = after[injection.mask].reshape(-1, *shape)
        assert torch.allclose(images[:, 0], images[:, 2], atol=1e-6)


@pytest.mark.parametrize("type", ["atypical", "ood_noise", "ood_digits"])
def test_image_types_are_refused_for_non_image_data(type):
    tabular = fake_dataset("csv:table.csv", torch.rand(50, 10, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(UserError, match="not images") as error:
        inject(tabular, type, RATE, 0)
    assert error.value.exit_code == ExitCode.BAD_INPUT
    assert inject(tabular, "uniform", RATE, 0).count == 5  # label types need no images


def test_image_types_are_refused_for_features_standardised_one_by_one(digits):
    with pytest.raises(UserError, match="data.standardise"):
        check_injectable(digits, ("atypical",), (RATE,), per_feature=True)
    check_injectable(digits, ("uniform",), (RATE,), per_feature=True)


def test_ood_digits_is_refused_for_digits_itself(digits):
    with pytest.raises(UserError, match="in distribution"):
        inject(digits, "ood_digits", RATE, 0)


def test_a_rate_that_injects_nothing_is_refused(digits):
    with pytest.raises(UserError, match="injects 0 of 1797"):
        inject(digits, "uniform", 0.0001, 0)


@pytest.mark.parametrize("type", INJECTION_TYPES)
def test_injection_is_deterministic_per_seed_type_and_rate(digits, mnist_like, type):
    dataset = mnist_like if type == "ood_digits" else digits
    first, again = injected(dataset, type), injected(dataset, type)
    assert torch.equal(first.mask, again.mask) and torch.equal(first.dataset.x, again.dataset.x)
    assert torch.equal(first.dataset.y, again.dataset.y) and first.dataset.fingerprint == again.dataset.fingerprint
    assert not torch.equal(first.mask, injected(dataset, type, seed=1).mask)
    assert injected(dataset, type, rate=0.2).count == round(0.2 * dataset.n_samples)


def test_fold_masks_hold_every_sample_out_of_half_the_models():
    masks = build_fold_masks(11, 3, seed=0)
    assert masks.shape == (6, 11)
    assert ((~masks).sum(0) == 3).all() and torch.equal(masks[0], ~masks[3])


def test_reference_probabilities_are_out_of_fold_distributions():
    config = load_config(None, ["data.subset_size=200", "train.epochs=20", "inversion.warmup=5",
                                 "detect.reference_models=1"])
    dataset = load_dataset(config.data, config.seed)
    probabilities = compute_reference_probabilities(dataset, config)
    assert probabilities.shape == (200, 10) and torch.allclose(probabilities.sum(1), torch.ones(200), atol=1e-5)
    assert torch.equal(probabilities, compute_reference_probabilities(dataset, config))
