"""Samples as images in pixel space: recover pixels from prepared features, prepare them again, and the image
transforms the injections use. Pure: tensors in, tensors out.

Images are prepared by one scalar affine map (the subset's mean and std, SPEC section 1), so `to_pixels` maps the
subset's smallest feature to 0 and its largest to 1: the subset's own pixel range, affinely. Standardising with the
subset's statistics forgets any affine map, so pixels changed in that space and standardised again give exactly what
hardness.datasets.prepare would prepare from the changed images. Images standardised feature by feature have no such pixel space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SHRINK = (0.5, 0.75)
"""Atypical samples: the image is scaled by a factor drawn from this range (the object shrinks) ..."""
SHIFT = 0.25
"""... and moved by up to this fraction of its width and of its height in each direction."""
DIGIT_BOX = 20 / 28
"""Digits shown inside another dataset's images fill a centred box of this share of each side, as MNIST's digits do
(20 x 20 of 28 x 28)."""


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Prepared features [N, D] -> pixels [N, D] in [0, 1], the subset's range (module docstring)."""
    low, high = x.min(), x.max()
    return (x - low) / (high - low)


def standardise(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [N, D] -> features standardised with the subset's scalar mean and std, as hardness.datasets.prepare prepares images."""
    std, mean = torch.std_mean(pixels, correction=0)
    return (pixels - mean) / std


def shift_and_shrink(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images [M, C, H, W] in [0, 1], each shrunk by a factor in SHRINK and moved by up to SHIFT of its size (pixels
    at 0 fill what comes into view); bilinear."""
    m = images.shape[0]
    scale = SHRINK[0] + (SHRINK[1] - SHRINK[0]) * torch.rand(m, generator=generator)
    shift = SHIFT * 2 * (2 * torch.rand(m, 2, generator=generator) - 1)  # grid coordinates span 2 per image side
    # affine_grid maps output coordinates to the input read there: input = (output - shift) / scale
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = -shift / scale.unsqueeze(1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.clamp(0, 1)


def load_digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8 x 8 digits as pixels [1797, 8, 8] in [0, 1] and their labels [1797] (no network)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.from_numpy(digits.images).float() / 16.0, torch.from_numpy(digits.target)


def frame_digits(digits: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Digit images [M, h, w] upscaled (bilinear) into the centred DIGIT_BOX of images [M, *shape] (C, H, W), the
    same in every channel, 0 around."""
    channels, height, width = shape
    box = (round(height * DIGIT_BOX), round(width * DIGIT_BOX))
    scaled = F.interpolate(digits.unsqueeze(1), size=box, mode="bilinear", align_corners=False).clamp(0, 1)
    framed = torch.zeros(digits.shape[0], channels, height, width)
    top, left = (height - box[0]) // 2, (width - box[1]) // 2
    framed[:, :, top:top + box[0], left:left + box[1]] = scaled
    return framed
