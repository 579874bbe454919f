"""Errors a user can cause: the CLI prints them as one line and exits with USER_ERROR_EXIT_CODE."""

USER_ERROR_EXIT_CODE = 2


class HardnessError(Exception):
    """A problem with the user's input or environment (bad option, missing data, unreachable server)."""
