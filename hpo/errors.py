"""Errors the CLI turns into one clear line and an exit code, never a traceback."""

from __future__ import annotations


class HpoError(Exception):
    """Base class: anything hpo reports to the user as a one-line message."""

    exit_code = 2


class UserInputError(HpoError):
    """Bad input (config, search space, data, CLI flags): exit code 2.

    The message names the file, the field path and what is wrong, so a user can fix it
    without reading a traceback.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.detail = message
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class SweepAborted(HpoError):
    """The sweep stopped for a reason that is not the user's input (exit code 1)."""

    exit_code = 1


class Interrupted(HpoError):
    """Ctrl-C or SIGTERM: the sweep was stopped cleanly (exit code 130)."""

    exit_code = 130


class GateFailed(HpoError):
    """A quality gate was not met (test F1 too low, export parity too poor): exit code 1.

    Not the user's typing: the input was fine, the model is not good enough to ship.
    """

    exit_code = 1


def first_line(err: BaseException, *, limit: int = 300, with_type: bool = False) -> str:
    """The first non-empty line of an error, cut to `limit` characters (the type when empty).

    Library errors (pandas, MLflow, TensorFlow) carry pages of context; a user-facing message
    and a logged `hpo.error` tag keep only the line that says what went wrong.
    """
    lines = str(err).strip().splitlines()
    if not lines:
        return type(err).__name__
    line = lines[0][:limit]
    return f"{type(err).__name__}: {line}" if with_type else line
