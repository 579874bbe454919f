"""Samples as images in pixel space: recover pixels from prepared features, prepare them again, and the image
transforms the injections use. Pure: tensors in, tensors out.

Prepared features are pixels in [0, 1] passed through one scalar affine map (the subset's mean and std, SPEC
section 1), so the subset's smallest feature is a blank pixel (0) and its largest a full one (1) whenever the subset
holds both, which every digits or MNIST-family subset does: `to_pixels` inverts the map from those two values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hardness.catalogue import IMAGE_SHAPES
from hardness.data import Dataset

SHRINK = (0.5, 0.75)
"""Atypical samples: the image is scaled by a factor drawn from this range (the digit shrinks) ..."""
SHIFT = 0.25
"""... and moved by up to this fraction of its width and of its height in each direction."""
DIGIT_BOX = 20 / 28
"""Digits shown inside a 28 x 28 image fill a centred 20 x 20 box, as MNIST's digits do."""


def image_shape(dataset: Dataset) -> tuple[int, int] | None:
    """(height, width) when the dataset's samples are images of the catalogue's shape, else None."""
    shape = IMAGE_SHAPES.get(dataset.name)
    return shape if shape is not None and shape[0] * shape[1] == dataset.n_features else None


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Prepared features [N, D] -> pixels [N, D] in [0, 1] (module docstring: the extremes are 0 and 1)."""
    low, high = x.min(), x.max()
    return (x - low) / (high - low)


def standardise(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [N, D] -> features standardised with the subset's scalar mean and std, as hardness.data prepares them."""
    std, mean = torch.std_mean(pixels, correction=0)
    return (pixels - mean) / std


def shift_and_shrink(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images [M, H, W] in [0, 1], each shrunk by a factor in SHRINK and moved by up to SHIFT of its size (blank
    pixels fill what comes into view); bilinear."""
    m = images.shape[0]
    scale = SHRINK[0] + (SHRINK[1] - SHRINK[0]) * torch.rand(m, generator=generator)
    shift = SHIFT * 2 * (2 * torch.rand(m, 2, generator=generator) - 1)  # grid coordinates span 2 per image side
    # affine_grid maps output coordinates to the input read there: input = (output - shift) / scale
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = -shift / scale.unsqueeze(1)
    grid = F.affine_grid(theta, [m, 1, *images.shape[1:]], align_corners=False)
    moved = F.grid_sample(images.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.squeeze(1).clamp(0, 1)


def load_digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8 x 8 digits as pixels [1797, 8, 8] in [0, 1] and their labels [1797] (no network)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.from_numpy(digits.images).float() / 16.0, torch.from_numpy(digits.target)


def frame_digits(digits: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Digit images [M, h, w] upscaled (bilinear) into the centred DIGIT_BOX of images [M, *shape], blank around."""
    box = (round(shape[0] * DIGIT_BOX), round(shape[1] * DIGIT_BOX))
    scaled = F.interpolate(digits.unsqueeze(1), size=box, mode="bilinear", align_corners=False).squeeze(1)
    framed = torch.zeros(digits.shape[0], *shape)
    top, left = (shape[0] - box[0]) // 2, (shape[1] - box[1]) // 2
    framed[:, top:top + box[0], left:left + box[1]] = scaled.clamp(0, 1)
    return framed
