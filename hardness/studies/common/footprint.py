"""The memory reading a user's data will take, estimated from what the files declare before anything is read: an npz
file's array headers (a small compressed file can expand to far more than its size) and, for an image folder resized
to data.image_size, the number of images times the pixels of that size. A source that would not fit is refused with
one line (exit 2) instead of dying halfway through reading it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from hardness.config import DataConfig
from hardness.engine.resources import FLOAT, check_memory, read_available_bytes

PREPARED_COPIES = 3
"""Float32 copies of every value that reading and preparing hold at their peak (read, scaled, standardised)."""
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def estimate_reading_bytes(config: DataConfig) -> int | None:
    """Peak bytes of reading and preparing config's data, or None when the source declares no size up front."""
    if config.name == "npz" and config.path and Path(config.path).is_file():
        return _npz_bytes(Path(config.path))
    if config.name == "imagefolder" and config.image_size is not None and config.path and Path(config.path).is_dir():
        height, width = config.image_size
        values = _count_files(Path(config.path)) * (1 if config.grayscale else 3) * height * width
        return values * (1 + PREPARED_COPIES * FLOAT)  # uint8 pixels, then float32 copies
    return None


def check_reading_fits(config: DataConfig) -> None:
    """Refuse (exit 2) data whose reading would need more memory than this machine has available now."""
    needed = estimate_reading_bytes(config)
    if needed is not None:
        check_memory(needed, read_available_bytes("cpu"), f"reading the {config.name} data at {config.path}",
                     "use a smaller file, a smaller data.image_size, or a machine with more memory")


def _npz_bytes(path: Path) -> int | None:
    """Bytes of the arrays in an npz file as their headers declare them, plus the float32 copies of preparation; None
    when the file is no readable npz (the reader then names the problem)."""
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as handle:
                    read_header = HEADER_READERS.get(np.lib.format.read_magic(handle))
                    if read_header is None:  # a format version this estimate does not know: leave it to the reader
                        return None
                    shape, _, dtype = read_header(handle)
                values = int(np.prod(shape, dtype=object))
                total += values * (dtype.itemsize + PREPARED_COPIES * FLOAT)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    return total


def _count_files(root: Path) -> int:
    """Files under `root`, links to folders not followed (the reader refuses those)."""
    return sum(len(files) for _, _, files in os.walk(root))
