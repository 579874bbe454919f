"""A user's image folder in torchvision's ImageFolder layout, data.path/<class>/<image>: classes in sorted order,
images read as RGB (or `data.grayscale`) and resized to `data.image_size` when given. The file of every sample is
kept (RawData.paths); position in ImageFolder's sorted listing = original index."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hardness.config import DataConfig
from hardness.datasets.raw import RawData, source_path
from hardness.errors import UserError


def read_imagefolder(config: DataConfig) -> RawData:
    """Pixels [N, C, H, W] uint8 of every image under data.path, their class ids, names and files."""
    from torchvision.datasets import ImageFolder

    path = source_path(config, folder=True)
    check_no_folder_links(path)
    try:
        listing = ImageFolder(str(path), loader=str)
    except (FileNotFoundError, OSError) as error:
        raise UserError(f"data.path {path} is no image folder ({error}): put each class's images in a folder "
                        f"<class>/ under it") from None
    files = [file for file, _ in listing.samples]
    images = [read_image(file, config) for file in files]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        first = images[0].shape
        other = next(i for i, image in enumerate(images) if image.shape != first)
        raise UserError(f"the images of {path} differ in size ({_size(first)} in {files[0]}, "
                        f"{_size(images[other].shape)} in {files[other]}): set data.image_size to resize them all")
    pixels = torch.from_numpy(np.stack(images))
    labels = torch.tensor(listing.targets, dtype=torch.int64)
    return RawData(pixels, labels, torch.arange(len(files)), len(listing.classes), 255.0, tuple(pixels.shape[1:]),
                   class_names=tuple(listing.classes), paths=tuple(files))


def check_no_folder_links(root: Path) -> None:
    """Refuse (exit 2) an image folder holding links to folders: torchvision follows them, so a link to a parent reads
    the same images again and again, under the wrong classes. Links to single files are fine (--clean-out makes them)."""
    links = [Path(folder) / name for folder, subfolders, _ in os.walk(root) for name in subfolders
             if (Path(folder) / name).is_symlink()]
    if links:
        raise UserError(f"the image folder {root} holds {len(links)} link(s) to folders (first: {links[0]}), which "
                        f"hardness does not follow (a link can loop or pull in another class's images): replace them "
                        f"with the folders themselves, or remove them")


def read_image(file: str, config: DataConfig) -> np.ndarray:
    """One image as uint8 [C, H, W]: RGB or grayscale, resized (bilinear) to data.image_size (height, width)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            image = image.convert("L" if config.grayscale else "RGB")
            if config.image_size is not None:
                image = image.resize(config.image_size[::-1], Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:  # the bomb: Pillow's size limit
        raise UserError(f"cannot read the image {file}: {error}") from None
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[2]}x{shape[1]}"
