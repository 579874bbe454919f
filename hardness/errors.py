"""The faults a user or an operator can cause, and the exit code each gives (the README's "Exit codes" table).

The CLI maps every HardnessError to one line on stderr and its `exit_code`; anything else is a bug (exit 1,
traceback kept). Raise the most specific class: UserError for bad input, EnvironmentProblem when the
tracking store, the Optuna storage or a server is unusable, ComputationFailed when the input was fine but the
computation could not produce a result.
"""

from __future__ import annotations

from enum import IntEnum

from hardness.redaction import redact


class ExitCode(IntEnum):
    """Every exit code `hardness` documents."""

    OK = 0
    BUG = 1
    BAD_INPUT = 2
    ENVIRONMENT = 3
    COMPUTATION_FAILED = 4
    HANGUP = 129
    """SIGHUP (128 + 1): the terminal went away."""
    INTERRUPTED = 130
    """Ctrl-C / SIGINT (128 + 2)."""
    TERMINATED = 143
    """SIGTERM (128 + 15): a scheduler or an operator stopped the process."""


class HardnessError(Exception):
    """A fault the user or the operator can fix. Raised as is, it means bad input.

    The message becomes one line with the passwords of any URLs in it masked, whoever raised it.
    """

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str):
        super().__init__(redact(" ".join(str(message).split())))


class UserError(HardnessError):
    """Bad input: an option, a config value or file, a data file."""

    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(HardnessError):
    """The tracking store, the Optuna storage or a server is unusable: unreachable, read-only, corrupted."""

    exit_code = ExitCode.ENVIRONMENT


class ComputationFailed(HardnessError):
    """The input was valid but the computation produced no result (e.g. every model diverged)."""

    exit_code = ExitCode.COMPUTATION_FAILED
