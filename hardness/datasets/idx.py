"""Checks of torchvision's raw IDX files (MNIST family): refuse a damaged file with what is wrong with it."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from hardness.errors import UserError

PARTS = ("train", "t10k")
RAW_FILES = tuple(f"{part}-{kind}-ubyte" for part in PARTS for kind in ("images-idx3", "labels-idx1"))


def check_raw_files(name: str, raw: Path) -> None:
    """Refuse a damaged raw file (cut short, or not an IDX file of unsigned bytes), naming it and the damage."""
    for part in PARTS:
        counts = []
        for kind, ndim in (("images-idx3", 3), ("labels-idx1", 1)):
            path = raw / f"{part}-{kind}-ubyte"
            try:
                with open(path, "rb") as handle:
                    header = handle.read(4 + 4 * ndim)
                size = path.stat().st_size
            except OSError as error:
                raise UserError(f"cannot read the {name} file {path}: {error.strerror}") from None
            damage = find_idx_damage(header, size, ndim)
            if damage is not None:
                raise UserError(f"the {name} file {path} is damaged: {damage}; replace it with an intact copy")
            counts.append(struct.unpack(">I", header[4:8])[0])
        if counts[0] != counts[1]:
            raise UserError(f"the {name} files {part}-*-ubyte in {raw} do not match: {counts[0]} images but "
                            f"{counts[1]} labels; replace them with intact copies")


def find_idx_damage(header: bytes, size: int, ndim: int) -> str | None:
    """Why an IDX file of `size` bytes starting with `header` is not an `ndim`-d array of unsigned bytes, else None.

    IDX: the magic bytes 00 00 08 <ndim>, each dimension as a big-endian uint32, then the values, one byte each.
    """
    magic = bytes([0, 0, 0x08, ndim])
    if header[:4] != magic:
        return f"its header starts with {header[:4].hex(' ') or 'nothing'}, not the IDX magic {magic.hex(' ')}"
    length = 4 + 4 * ndim
    if len(header) < length:
        return f"it ends inside its header ({size} bytes)"
    dims = struct.unpack(f">{ndim}I", header[4:length])
    expected = length + math.prod(dims)
    if size != expected:
        verdict = "it is cut short" if size < expected else "it has bytes to spare"
        return (f"it holds {size:,} bytes where its header ({' x '.join(map(str, dims))} values) announces "
                f"{expected:,}: {verdict}")
    return None
