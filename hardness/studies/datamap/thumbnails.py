"""What a reviewer sees of a sample (pure): images as small 8-bit thumbnails packed into one byte string, tables as a
line naming their most unusual features, and a single image as a PNG data URI (Label Studio tasks)."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch

MAX_SIDE = 32
"""Thumbnails larger than this on a side are averaged down to it."""


def to_pixels(x: torch.Tensor, image_shape: tuple[int, int, int], *, bounds: tuple[float, float] | None = None,
              max_side: int = MAX_SIDE) -> torch.Tensor:
    """Standardised flattened images x [M, C*H*W] -> uint8 [M, C, h, w] with h, w <= max_side. Images are
    standardised by one scalar, so the darkest and brightest values of the data (`bounds`, else x's) become 0 and 255."""
    low, high = bounds if bounds is not None else (float(x.min()), float(x.max()))
    images = ((x - low) / max(high - low, 1e-12)).clamp(0, 1).reshape(len(x), *image_shape)
    _, height, width = image_shape
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        images = torch.nn.functional.adaptive_avg_pool2d(images, size)
    return (images * 255).round().to(torch.uint8)


def pack_thumbnails(x: torch.Tensor, image_shape: tuple[int, int, int], order: np.ndarray,
                    budget_bytes: int) -> tuple[tuple[int, ...], bytes, np.ndarray]:
    """Thumbnails of as many samples as `budget_bytes` holds, taken in `order` (positions, hardest first): (their
    shape C, h, w; their pixels back to back; per sample [N] its slot in that string, -1 without a thumbnail)."""
    shape = tuple(to_pixels(x[:1], image_shape).shape[1:])
    chosen = np.asarray(order[: max(0, budget_bytes // int(np.prod(shape)))], dtype=np.int64)
    slots = np.full(len(x), -1, dtype=np.int64)
    slots[chosen] = np.arange(len(chosen))
    pixels = to_pixels(x[torch.tensor(chosen)], image_shape, bounds=(float(x.min()), float(x.max())))
    return shape, pixels.numpy().tobytes(), slots


def summarise_features(x: torch.Tensor, names: tuple[str, ...] | None, *, top: int = 3) -> list[str]:
    """Per sample of standardised features x [N, D] its `top` most unusual features: 'petal_width +2.1σ, ...'."""
    names = names or tuple(f"x{i}" for i in range(x.shape[1]))
    top = min(top, x.shape[1])
    picked = x.abs().topk(top, dim=1).indices
    values = x.gather(1, picked)
    return [", ".join(f"{names[j]} {v:+.1f}σ" for j, v in zip(row, vals))
            for row, vals in zip(picked.tolist(), values.tolist())]


def png_data_uri(pixels: torch.Tensor) -> str:
    """One image uint8 [C, H, W] (C 1 or 3) as a data:image/png;base64 URI."""
    from PIL import Image

    array = pixels.permute(1, 2, 0).numpy()
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
