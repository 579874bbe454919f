"""Writes prepared runs (RunPayload) from a few background threads while the caller goes on computing.

The first error stops the writer: payloads not yet started are dropped, runs in progress end KILLED, and `close()`
raises that error (noted with the payload's name) in the caller's thread. Leaving the `with` block by Ctrl-C or a stop
signal (a KeyboardInterrupt) abandons the rest the same way, waiting at most ABANDON_WAIT_S for writes in progress, so
the process never hangs on a stuck store; leaving it by another exception still lets every submitted run land.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType

from hardness.tracking.payloads import RunPayload

ABANDON_WAIT_S = 10.0


class Abandoned(KeyboardInterrupt):
    """The writer was stopped while this run was being written: the run ends KILLED (Tracker.run's rule)."""


WriteFn = Callable[[RunPayload, threading.Event], str]
"""Writes one payload, checking the event between calls (raising Abandoned when set); returns the run id."""


class RunWriter:
    """`submit` payloads, then `close` (or leave the `with` block): every run has landed, or the first error is raised."""

    def __init__(self, write: WriteFn, *, workers: int):
        if workers < 1:
            raise ValueError(f"a writer needs at least one worker, not {workers}")
        self._write = write
        self._stop = threading.Event()
        self._queue: queue.SimpleQueue[tuple[RunPayload, Future] | None] = queue.SimpleQueue()
        self._errors: list[BaseException] = []
        self._closed = False
        # daemon threads: a write stuck on an unreachable store must not keep the process alive at exit
        self._threads = [threading.Thread(target=self._work, name=f"hardness-writer-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, payload: RunPayload) -> Future:
        """Queue `payload`; the future gives its run id once written. Raises the writer's first error, if any."""
        if self._closed:
            raise RuntimeError("this writer is closed")
        self._raise_first_error()
        future: Future = Future()
        self._queue.put((payload, future))
        return future

    def close(self) -> None:
        """Wait until every submitted run has been written; raise the first error."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)
            try:
                for thread in self._threads:
                    thread.join()
            except BaseException:  # Ctrl-C while waiting
                self.abandon()
                raise
        self._raise_first_error()

    def abandon(self, wait_s: float = ABANDON_WAIT_S) -> None:
        """Stop: drop what has not started, end the runs in progress KILLED, wait for them at most `wait_s` seconds."""
        self._stop.set()
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + wait_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.abandon()
        else:  # the caller failed after submitting: what it submitted is complete and kept
            try:
                self.close()
            except Exception as write_error:
                error.add_note(f"writing the child runs failed too: {write_error}")

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            payload, future = item
            if self._stop.is_set():
                future.cancel()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._write(payload, self._stop))
            except BaseException as error:  # Abandoned included: the caller learns every run's fate from its future
                if not isinstance(error, Abandoned):  # recorded first: whoever sees the future failed sees the error
                    error.add_note(f"while writing run {payload.name!r}")
                    self._errors.append(error)
                    self._stop.set()
                future.set_exception(error)

    def _raise_first_error(self) -> None:
        if self._errors:
            raise self._errors[0]
