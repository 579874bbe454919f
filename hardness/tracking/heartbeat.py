"""Heartbeats: open runs are marked alive every INTERVAL_S seconds by a background thread, so a run whose process was
killed with SIGKILL (which cannot end its runs) shows as stale: RUNNING, and not seen for STALE_AFTER_S seconds.

The thread costs nothing per epoch; a missed beat (a busy store) only makes the run look older.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

INTERVAL_S = 30.0
STALE_AFTER_S = 300.0
"""Default age of the last sign of life past which a RUNNING run counts as stale (ten missed beats)."""


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

    def __init__(self, beat: Callable[[list[str]], None], interval: float = INTERVAL_S):
        self.beat, self.interval = beat, interval
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
