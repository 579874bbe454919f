"""Heartbeats: open runs are marked alive every INTERVAL_S seconds by a background thread, so a run whose process was
killed with SIGKILL (which cannot end its runs) shows as stale: RUNNING, and not seen for STALE_AFTER_S seconds.

The thread costs nothing per epoch; a missed beat (a busy store) only makes the run look older.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from hardness.errors import UserError

INTERVAL_S = 30.0
"""Seconds between beats, unless HARDNESS_HEARTBEAT_S says otherwise (`interval_s`)."""
STALE_AFTER_S = 300.0
"""Default age of the last sign of life past which a RUNNING run counts as stale (ten missed beats)."""
MISSED_BEATS = 3
"""A threshold for staleness must allow this many missed beats (`check_stale_after`): one late beat of a busy store
must never let `hardness runs --mark-stale-failed` end a live run."""


def interval_s() -> float:
    """Seconds between beats: HARDNESS_HEARTBEAT_S when set (a positive number), else INTERVAL_S."""
    value = os.environ.get("HARDNESS_HEARTBEAT_S", "")
    try:
        return float(value) if value and float(value) > 0 else INTERVAL_S
    except ValueError:
        return INTERVAL_S


def check_stale_after(stale_after_s: float) -> None:
    """Refuse (exit 2) a staleness threshold shorter than MISSED_BEATS heartbeat periods: live runs would count as stale."""
    shortest = MISSED_BEATS * interval_s()
    if stale_after_s < shortest:
        raise UserError(f"--stale-after {stale_after_s:g} is shorter than {MISSED_BEATS} heartbeats ({shortest:g} s): "
                        f"live runs would count as stale; give at least {shortest:g}")


def last_seen_ms(start_time_ms: int, heartbeat: object) -> int:
    """A run's last sign of life: its heartbeat tag (epoch milliseconds, as text) or, before the first beat, its start."""
    try:
        return max(int(start_time_ms), int(str(heartbeat)))
    except ValueError:
        return int(start_time_ms)


def is_stale(start_time_ms: int, heartbeat: object, *, now_ms: float | None = None,
             stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether a run's last sign of life (`last_seen_ms`) is more than `stale_after_s` seconds before now."""
    now = time.time() * 1000 if now_ms is None else now_ms
    return now - last_seen_ms(start_time_ms, heartbeat) > stale_after_s * 1000


class Heartbeat:
    """Calls beat(run_ids) every `interval` seconds from a daemon thread while some runs are open."""

    def __init__(self, beat: Callable[[list[str]], None], interval: float | None = None):
        self.beat, self.interval = beat, interval_s() if interval is None else interval
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, run_id: str) -> None:
        with self._lock:
            self._runs.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="hardness-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._runs.discard(run_id)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                runs = sorted(self._runs)
                if not runs:  # the last run closed: end the thread (add() starts a new one)
                    self._thread = None
                    return
            try:
                self.beat(runs)
            except Exception:  # a failed beat must never fail the run it reports on
                continue
