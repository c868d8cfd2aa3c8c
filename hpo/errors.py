"""Errors the CLI turns into one clear line and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator


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


# Library errors are told apart by the names of their classes, never by importing MLflow,
# SQLAlchemy or requests: the CLI's error wrapper and the MLflow retry share these.
NETWORK_REASONS = (  # what a network error's long message comes down to, in a few words
    (("connection refused",), "connection refused"),
    (
        (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "failed to resolve",
            "getaddrinfo failed",
        ),
        "unknown host",
    ),
    (("timed out", "timeout"), "timed out"),
    (("no route to host", "network is unreachable"), "no route to host"),
    (("connection reset", "remote end closed", "connection aborted"), "connection dropped"),
)


def cause_chain(err: BaseException) -> Iterator[BaseException]:
    """The error and its causes (explicit, or implicit unless suppressed), each once."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        implicit = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or implicit


def class_names(err: BaseException) -> set[str]:
    """`module.QualName` of the error's class and every base class."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(err).__mro__}


def network_reason(text: str) -> str | None:
    """The few words of `NETWORK_REASONS` that `text` (an error message) comes down to."""
    lowered = text.lower()
    for needles, reason in NETWORK_REASONS:
        if any(needle in lowered for needle in needles):
            return reason
    return None
