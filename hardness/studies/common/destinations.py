"""Files a command writes for the user (export tables, report files, the clean copy of the data): their paths are
checked before any work starts, and each is written whole or not at all.

A write goes to a hidden temporary name beside its target and is renamed onto it only once complete, so a full disk
or an interrupt never leaves a truncated file under the name the user asked for.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hardness.errors import UserError


def check_output_file(path: Path, option: str) -> None:
    """Refuse (exit 2) a file path that cannot be written: a folder, a path under a file, a place without write access."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder: name a file in it, e.g. {path / 'export.csv'}")
    _check_folder_writable(path.parent, option, path)


def check_output_folder(path: Path, option: str) -> None:
    """Refuse (exit 2) a folder path that cannot be written: an existing file, a path under a file, no write access."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder: name a new or existing folder")
    _check_folder_writable(path, option, path)


def _check_folder_writable(folder: Path, option: str, path: Path) -> None:
    """`folder` (or, where it does not exist yet, its nearest existing parent) is a writable folder."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {path} lies under {existing}, which is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path} cannot be written: no write permission in {existing}")


def partial_path(target: Path) -> Path:
    """The hidden name a file is written under until complete (same folder and suffix: writers pick the format from it)."""
    return target.with_name(f".partial-{os.getpid()}-{target.name}")


@contextmanager
def written_whole(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write `target`'s content to; it becomes `target` when the block succeeds and is
    removed (a file or a folder) when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        raise
