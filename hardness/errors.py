"""The faults a user or an operator can cause, and the exit code each gives (docs/reference/exit-codes.md).

The CLI maps every HardnessError to one line on stderr and its `exit_code`; anything else is a bug (exit 1,
traceback kept). Raise the most specific class: UserError for bad input, EnvironmentProblem when the
tracking store, the Optuna storage or a server is unusable, ComputationFailed when the input was fine but the
computation could not produce a result.
"""

from __future__ import annotations

import errno
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


class UserError(HardnessError, ValueError):
    """Bad input: an option, a config value or file, a data file. Also a ValueError, as the Python API raises it."""

    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(HardnessError):
    """The tracking store, the Optuna storage or a server is unusable: unreachable, read-only, corrupted."""

    exit_code = ExitCode.ENVIRONMENT


class ComputationFailed(HardnessError):
    """The input was valid but the computation produced no result (e.g. every model diverged)."""

    exit_code = ExitCode.COMPUTATION_FAILED


FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
"""A full disk, a file-size limit (ulimit -f) or a quota: the write failed for want of room, not for a bug."""
FULL_DISK_SQLITE = frozenset({"SQLITE_FULL", "SQLITE_IOERR_WRITE"})
"""SQLite's names for the same (past a file-size limit it reports a failed write, not a full disk)."""


def full_disk_problem(error: BaseException) -> EnvironmentProblem | None:
    """The EnvironmentProblem a full disk caused `error` to be, found anywhere in its chain of causes (a write of ours,
    or one deep inside MLflow, SQLite or matplotlib); None when `error` is something else."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if (isinstance(error, OSError) and error.errno in FULL_DISK_ERRNOS) or "disk is full" in str(error) \
                or getattr(error, "sqlite_errorname", "") in FULL_DISK_SQLITE:
            where = f" writing {error.filename}" if isinstance(error, OSError) and error.filename else ""
            return EnvironmentProblem(f"no room left on the disk{where} (a full disk, a quota or a file-size limit): "
                                      f"free some space and rerun; the runs in progress ended FAILED")
        error = error.__cause__ or error.__context__
    return None


def refused_access_problem(error: BaseException) -> EnvironmentProblem | None:
    """The EnvironmentProblem of a tracking server refusing a request (HTTP 401: who; 403: what this user may do), as
    MLflow's client reports it; None for anything else."""
    status = getattr(error, "get_http_status_code", lambda: None)()
    if status not in (401, 403):
        return None
    return EnvironmentProblem(f"the tracking server refused the request (HTTP {status}): check MLFLOW_TRACKING_USERNAME "
                              f"and MLFLOW_TRACKING_PASSWORD, and ask its admin for the permission this needs (EDIT "
                              f"to log to an experiment)")


def environment_problem(error: BaseException) -> EnvironmentProblem | None:
    """What `error` means for the operator when it is a full disk or a refused login, else None (a bug)."""
    return full_disk_problem(error) or refused_access_problem(error)
