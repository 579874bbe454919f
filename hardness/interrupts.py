"""Stop signals handled like Ctrl-C: SIGTERM (docker stop, a batch scheduler, a killed CI job) and SIGHUP (the terminal
went away) raise `Interrupted`, a KeyboardInterrupt, so every open run ends KILLED (Tracker.run) and Optuna fails the
running trial; the process then prints one line and exits 128 + the signal number (130, 143, 129).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived (its name is the message)."""


def exit_code(signum: int) -> int:
    """The shell's convention for a process stopped by a signal: 128 + its number."""
    return 128 + signum


_deferring: list[bool] = []
"""Non-empty while a `deferred_signals` block runs."""
_pending: list[int] = []
"""Stop signals that arrived during a deferred block, raised when it ends."""


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold a stop signal that arrives inside the block until it ends (then raise Interrupted), so a run or a database
    write is never left half done; effective under `exit_on_stop_signals` (the CLI) in the main thread, which alone
    receives signals; a no-op elsewhere. `immediate_signals` reopens a window inside it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
        if not _deferring:
            _raise_pending()


@contextmanager
def immediate_signals() -> Iterator[None]:
    """Inside deferred blocks: let stop signals interrupt the block at once again (one held so far is raised now)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = len(_deferring)
    _deferring.clear()
    try:
        _raise_pending()
        yield
    finally:
        _deferring.extend([True] * held)


def _raise_pending() -> None:
    """Raise Interrupted for the first stop signal held by a deferred block, if any."""
    if _pending:
        signum = _pending[0]
        _pending.clear()
        raise Interrupted(signal.Signals(signum).name)


@contextmanager
def exit_on_stop_signals(*, last: bool = False) -> Iterator[None]:
    """Raise Interrupted on SIGINT/SIGTERM/SIGHUP inside the block; leave it with one line on stderr and exit code
    128 + the signal (typer turns a KeyboardInterrupt into exit 130 on its own: the signal received decides).
    A signal the process was started ignoring stays ignored (`nohup` ignores SIGHUP). Only the first stop signal
    interrupts: more of them (Ctrl-C pressed again and again) while the runs are being ended and the last line printed
    are dropped, so they can neither cut the ending short nor print a traceback (SIGKILL still ends it at once).
    With `last` (the process ends with the block: the CLI), stop signals stay ignored after a stop signal ended it,
    so one more Ctrl-C cannot turn exit 130 into a death by SIGINT during the interpreter's shutdown."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:  # already stopping: let the runs end KILLED in peace
            return
        if _deferring:
            _pending.append(signum)
            return
        raise Interrupted(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as stop:
        if isinstance(stop, SystemExit) and not (received and stop.code == exit_code(signal.SIGINT)):
            raise
        signum = received[0] if received else signal.SIGINT
        from hardness.console import print_error

        print_error(f"interrupted by {signal.Signals(signum).name}: the runs in progress end KILLED (rerun imbalance, "
                    f"benchmark or search to continue where they stopped)")
        sys.exit(exit_code(signum))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if last and received else handler)
