"""MLflow, database and network errors as one line a user can act on, password masked.

A library error reaches a command from many places (every MLflow read and write, the
ledger, the registry); wrapping each call would miss some, so `friendly_errors` asks
`describe` about whatever escaped. Errors are recognised by the names of their classes
(and their causes' classes), never by importing MLflow, SQLAlchemy or requests: the CLI
starts without them and a command that never loaded them cannot meet their errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hpo.errors import cause_chain, class_names, first_line, network_reason
from hpo.urls import mask_secrets

MLFLOW_ERROR = "mlflow.exceptions.MlflowException"
NETWORK_ERRORS = frozenset(
    {
        "requests.exceptions.ConnectionError",
        "requests.exceptions.Timeout",
        "urllib3.exceptions.MaxRetryError",
        "urllib3.exceptions.NewConnectionError",
        "urllib3.exceptions.ProtocolError",
    }
)
DATABASE_ERRORS = frozenset(
    {
        "sqlalchemy.exc.OperationalError",
        "sqlalchemy.exc.InterfaceError",
        "sqlalchemy.exc.DisconnectionError",
        "sqlite3.OperationalError",
        "psycopg2.OperationalError",
    }
)
# not ConnectionError itself: a BrokenPipeError is `hpo trials | head`, not the network
SOCKET_ERRORS = frozenset(
    {
        "builtins.ConnectionRefusedError",
        "builtins.ConnectionResetError",
        "builtins.ConnectionAbortedError",
        "builtins.TimeoutError",
        "socket.gaierror",
    }
)
# MLflow's REST client: "API request to http://host/api/2.0/... failed with exception ..."
_API_REQUEST = re.compile(r"API request to ([^\n]+?)/(?:ajax-)?api/\S* failed with exception")
_BAD_INPUT_CODES = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS"}
)
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


@dataclass(frozen=True)
class Described:
    """The one line (without `hpo: error: `) and the exit code."""

    message: str
    exit_code: int


def describe(err: BaseException) -> Described | None:
    """A library error as one masked line, or None for anything else (a bug: traceback)."""
    chain = list(cause_chain(err))
    names = set().union(*(class_names(e) for e in chain))
    text = "\n".join(str(e) for e in chain)
    request = _API_REQUEST.search(text)
    if names & NETWORK_ERRORS or request:
        server = request.group(1) + "/" if request else "(see --tracking-uri)"
        return Described(
            mask_secrets(
                f"cannot reach the MLflow tracking server {server} ({_network_reason(text)}): "
                "is it running, and is --tracking-uri right?"
            ),
            1,
        )
    if names & DATABASE_ERRORS:
        return Described(mask_secrets(_database_message(chain, MLFLOW_ERROR in names)), 1)
    if MLFLOW_ERROR in names:
        return Described(mask_secrets(_mlflow_message(chain)), _mlflow_exit_code(chain))
    if names & SOCKET_ERRORS:
        return Described(
            mask_secrets(f"cannot connect ({_network_reason(text)}): {first_line(err)}"), 1
        )
    return None


def _network_reason(text: str) -> str:
    return network_reason(text) or "connection failed"


def _database_message(chain: list[BaseException], mlflow: bool) -> str:
    what = "the MLflow tracking database" if mlflow else "the database"
    deepest = next((e for e in reversed(chain) if class_names(e) & DATABASE_ERRORS), chain[-1])
    driver = getattr(deepest, "orig", None) or deepest  # SQLAlchemy keeps the driver's error
    reason = first_line(driver, limit=200)
    if "locked" in reason.lower():
        return (
            f"{what} is locked by another process ({reason}): try again when it has "
            "finished; SQLite takes one writer at a time (several writers need a database "
            "server or an `mlflow server`)"
        )
    return (
        f"{what} is unreachable or refused the call ({reason}): is it running, and is the "
        "URL right?"
    )


def _mlflow_error(chain: list[BaseException]) -> BaseException:
    return next(e for e in chain if MLFLOW_ERROR in class_names(e))


def _mlflow_message(chain: list[BaseException]) -> str:
    err = _mlflow_error(chain)
    message = f"MLflow: {first_line(err)}"
    if getattr(err, "error_code", "") in _AUTH_CODES:
        message += (
            " (the server wants credentials: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD)"
        )
    return message


def _mlflow_exit_code(chain: list[BaseException]) -> int:
    """2 when the user named something MLflow does not have, 1 otherwise."""
    return 2 if getattr(_mlflow_error(chain), "error_code", "") in _BAD_INPUT_CODES else 1
