"""Stop signals handled like Ctrl-C: SIGTERM (docker stop, a batch scheduler, a killed CI job) and SIGHUP (the terminal
went away) raise `Interrupted`, a KeyboardInterrupt, so every open run ends KILLED (Tracker.run) and Optuna fails the
running trial; the process then prints one line and exits 128 + the signal number (130, 143, 129).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived (its name is the message)."""


def exit_code(signum: int) -> int:
    """The shell's convention for a process stopped by a signal: 128 + its number."""
    return 128 + signum


@contextmanager
def exit_on_stop_signals() -> Iterator[None]:
    """Raise Interrupted on SIGINT/SIGTERM/SIGHUP inside the block; leave it with one line on stderr and exit code
    128 + the signal (typer turns a KeyboardInterrupt into exit 130 on its own: the signal received decides).
    A signal the process was started ignoring stays ignored (`nohup` ignores SIGHUP)."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
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
            signal.signal(signum, handler)
