"""Progress reporting without a terminal: a callback type, stage labels and the engine hook that feeds it."""

from __future__ import annotations

from collections.abc import Callable

from hardness.engine import EpochState, Hook

Progress = Callable[[int, int, str], None]
"""progress(done, total, status): called as long work advances (the CLI draws it as a rich bar)."""


def staged(progress: Progress | None, stage: str) -> Progress | None:
    """A progress callback whose status is prefixed with `stage` (None stays None)."""
    if progress is None:
        return None
    return lambda done, total, status="": progress(done, total, f"{stage}: {status}" if status else stage)


class EpochProgress(Hook):
    """Engine hook reporting epochs as progress; `offset` and `total` place one fit inside a longer job."""

    def __init__(self, progress: Progress, total: int, *, offset: int = 0, status: str = ""):
        self.progress, self.total, self.offset, self.status = progress, total, offset, status

    def on_epoch_end(self, state: EpochState) -> None:
        self.progress(self.offset + state.epoch, self.total, self.status or f"loss {float(state.loss.mean()):.4f}")
