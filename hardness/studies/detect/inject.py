"""Inject hardness into known samples of a prepared dataset: the injected dataset and which samples were changed.

Each type changes exactly round(rate * N) samples, the same ones for the same (seed, type, rate):
- uniform: the label flips to a uniformly random other class (hardness.datasets.prepare's label noise);
- asymmetric: class c flips to c + 1 mod C (a fixed confusion, as in the noisy-label literature's pair flips);
- adjacent: instance-dependent flips: each sample's most confusable other class, by the out-of-fold softmax of a
  reference ensemble, is its new label, and it is chosen with probability proportional to that class's probability
  (weighted sampling without replacement), so samples a model already confuses are flipped most;
- atypical: the image is shrunk and shifted (images.shift_and_shrink); the label is kept;
- ood_noise: the image is replaced by uniform noise pixels; the label is kept;
- ood_digits: the image is replaced by one of scikit-learn's 8 x 8 digits upscaled into the image's centre, as
  MNIST draws its digits (any image dataset but the digits themselves); the label is kept.
Image changes happen in pixel space and the whole subset is then standardised again with its own statistics, as
hardness.datasets.prepare would have prepared it had those pixels been in the files (images.py). Pure: no training, no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hardness.catalogue import INJECTION_TYPES
from hardness.datasets.prepare import Dataset, compute_label_noise
from hardness.engine.seeds import INJECT_STREAM
from hardness.errors import UserError
from hardness.studies.detect.pixels import frame_digits, load_digit_images, shift_and_shrink, standardise, to_pixels

IMAGE_TYPES = ("atypical", "ood_noise", "ood_digits")
"""Types that change images: the dataset's samples must be images, standardised as a whole."""
FRAMED_TYPES = ("ood_digits",)
"""Types that put the bundled digits into the dataset's images: out of distribution for any dataset but digits."""
REFERENCE_TYPES = ("adjacent",)
"""Types that need the reference ensemble's class probabilities."""


@dataclass(frozen=True)
class Change:
    """What one injection does: positions [M] of the changed samples, and their new labels [M] or pixels [M, D]."""

    positions: torch.Tensor
    labels: torch.Tensor | None = None
    pixels: torch.Tensor | None = None


@dataclass(frozen=True)
class Injection:
    """The dataset after injecting `type` at `rate`, and mask [N] bool of the injected samples."""

    dataset: Dataset
    mask: torch.Tensor
    type: str
    rate: float

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def count_injected(n_samples: int, rate: float) -> int:
    """How many of n_samples a rate changes: round(rate * N)."""
    return round(rate * n_samples)


def check_injectable(dataset: Dataset, types: tuple[str, ...], rates: tuple[float, ...], *,
                     per_feature: bool = False) -> None:
    """Refuse (UserError) types the dataset cannot take and rates that leave no injected or no clean sample;
    `per_feature`: the features were standardised one by one (data.standardise feature), which image types cannot
    undo."""
    for name in types:
        if name in IMAGE_TYPES and dataset.image_shape is None:
            raise UserError(f"injection type {name} changes images, but {dataset.name} samples are not images: drop it "
                            f"from detect.types (label types: uniform, asymmetric, adjacent)")
        if name in IMAGE_TYPES and per_feature:
            raise UserError(f"injection type {name} changes images in pixel space, which features standardised one "
                            f"by one do not keep: set data.standardise to auto or scalar, or drop {name}")
        if name in FRAMED_TYPES and dataset.name == "digits":
            raise UserError(f"injection type {name} puts the 8x8 digits into {dataset.name}'s images, where they are "
                            f"in distribution: use it with another image dataset (mnist, fashion-mnist, ...), or "
                            f"choose ood_noise")
    for rate in rates:
        count = count_injected(dataset.n_samples, rate)
        if not 0 < count < dataset.n_samples:
            raise UserError(f"detect rate {rate:g} injects {count} of {dataset.n_samples} samples: detection needs "
                            f"injected and clean samples; choose a rate between {1 / dataset.n_samples:.2g} and "
                            f"{1 - 1 / dataset.n_samples:.2g}")


def injection_seed(seed: int, type: str, rate: float) -> int:
    """The generator seed of one (seed, type, rate); independent of the other types and rates."""
    words = [seed, INJECT_STREAM, zlib.crc32(type.encode()), round(rate * 1_000_000)]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def inject(dataset: Dataset, type: str, rate: float, seed: int, *,
           probabilities: torch.Tensor | None = None) -> Injection:
    """Inject `type` into round(rate * N) samples; `probabilities` [N, C] (reference class probabilities) is needed by
    the REFERENCE_TYPES. Deterministic for (seed, type, rate)."""
    if type not in INJECTORS:
        raise UserError(f"unknown injection type {type!r}; choose from: {', '.join(INJECTION_TYPES)}")
    check_injectable(dataset, (type,), (rate,))
    if type in REFERENCE_TYPES and probabilities is None:
        raise ValueError(f"injection type {type} needs the reference ensemble's class probabilities")
    generator = torch.Generator().manual_seed(injection_seed(seed, type, rate))
    change = INJECTORS[type](dataset, count_injected(dataset.n_samples, rate), generator, probabilities)
    return Injection(apply_change(dataset, change, f"{type}|{rate!r}|{seed}"), _mask(dataset.n_samples, change),
                     type, rate)


def apply_change(dataset: Dataset, change: Change, label: str) -> Dataset:
    """The dataset with the change's labels or pixels in place (re-standardised when pixels changed); `label` names the
    change in the new fingerprint."""
    x, y, flipped = dataset.x, dataset.y, dataset.flipped
    if change.pixels is not None:
        pixels = to_pixels(dataset.x)
        pixels[change.positions] = change.pixels
        x = standardise(pixels)
    if change.labels is not None:
        y = dataset.y.clone()
        y[change.positions] = change.labels
        flipped = dataset.index[y != dataset.clean_y].sort().values
    fingerprint = hashlib.sha256(f"{dataset.fingerprint}|{label}".encode()).hexdigest()[:16]
    return dataclasses.replace(dataset, x=x, y=y, flipped=flipped, fingerprint=fingerprint)


def _mask(n: int, change: Change) -> torch.Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    mask[change.positions] = True
    return mask


def _positions(dataset: Dataset, count: int, generator: torch.Generator) -> torch.Tensor:
    """count positions drawn uniformly without replacement, sorted."""
    return torch.randperm(dataset.n_samples, generator=generator)[:count].sort().values


def sample_weighted(weights: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """count positions drawn without replacement with probability proportional to weights [N] >= 0, sorted.

    Gumbel top-k (Efraimidis & Spirakis): the count largest log(w) + Gumbel noise; zero weights come last, so they
    are drawn only when fewer than count weights are positive (ties among them: the earlier position first).
    """
    gumbel = -torch.log(-torch.log(torch.rand(weights.shape, generator=generator, dtype=torch.float64)))
    keys = torch.log(weights.to(torch.float64)) + gumbel
    return torch.sort(keys, descending=True, stable=True).indices[:count].sort().values


def flip_uniform(dataset: Dataset, count: int, generator: torch.Generator, probabilities: torch.Tensor | None) -> Change:
    """Each chosen label to a uniformly random other class."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    labels, positions = compute_label_noise(dataset.y, count / dataset.n_samples, dataset.n_classes, seed)
    return Change(positions, labels=labels[positions])


def flip_asymmetric(dataset: Dataset, count: int, generator: torch.Generator,
                    probabilities: torch.Tensor | None) -> Change:
    """Each chosen label c to c + 1 mod C."""
    positions = _positions(dataset, count, generator)
    return Change(positions, labels=(dataset.y[positions] + 1) % dataset.n_classes)


def most_confused(probabilities: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the most probable other class [N], its probability [N]) from class probabilities [N, C] and labels [N]."""
    others = probabilities.clone()
    others[torch.arange(len(labels)), labels] = -1.0
    weight, target = others.max(dim=1)
    return target, weight


def flip_adjacent(dataset: Dataset, count: int, generator: torch.Generator, probabilities: torch.Tensor | None) -> Change:
    """Chosen with probability proportional to the most confusable other class's probability, flipped to that class."""
    target, weight = most_confused(probabilities, dataset.y)
    positions = sample_weighted(weight, count, generator)
    return Change(positions, labels=target[positions])


def shift_images(dataset: Dataset, count: int, generator: torch.Generator, probabilities: torch.Tensor | None) -> Change:
    """The chosen images shrunk and shifted."""
    positions = _positions(dataset, count, generator)
    images = to_pixels(dataset.x)[positions].reshape(count, *dataset.image_shape)
    return Change(positions, pixels=shift_and_shrink(images, generator).reshape(count, -1))


def noise_images(dataset: Dataset, count: int, generator: torch.Generator, probabilities: torch.Tensor | None) -> Change:
    """The chosen images replaced by uniform noise in [0, 1)."""
    positions = _positions(dataset, count, generator)
    return Change(positions, pixels=torch.rand(count, dataset.n_features, generator=generator))


def digit_images(dataset: Dataset, count: int, generator: torch.Generator, probabilities: torch.Tensor | None) -> Change:
    """The chosen images replaced by random 8 x 8 digits (drawn with replacement) upscaled into the image's box."""
    positions = _positions(dataset, count, generator)
    digits, _ = load_digit_images()
    drawn = digits[torch.randint(0, len(digits), (count,), generator=generator)]
    return Change(positions, pixels=frame_digits(drawn, dataset.image_shape).reshape(count, -1))


Injector = Callable[[Dataset, int, torch.Generator, "torch.Tensor | None"], Change]
INJECTORS: dict[str, Injector] = {
    "uniform": flip_uniform, "asymmetric": flip_asymmetric, "adjacent": flip_adjacent, "atypical": shift_images,
    "ood_noise": noise_images, "ood_digits": digit_images,
}
"""One function per catalogue INJECTION_TYPES name: (dataset, count, generator, reference probabilities) -> Change."""
