"""The one error wrapper of every `hpo` command: an HpoError is one line and its exit code.

Bad input exits 2, a failed gate 1, an interrupted sweep 130 (each error class says which);
never a traceback. MLflow, database and network errors are one line too
(hpo/cli/library_errors.py), Ctrl-C anywhere is `hpo: interrupted` and exit 130, and
whatever a command prints on the way out has its passwords masked: the line, library log
lines, and the traceback of a genuine bug. A module of its own so command modules need not
import `hpo.cli` (with `python -m hpo.cli` that would load the CLI a second time under
another name).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from hpo.cli.library_errors import describe
from hpo.cli.output import echo_json
from hpo.errors import HpoError
from hpo.urls import mask_log_records, mask_secrets

INTERRUPTED_EXIT_CODE = 130

F = TypeVar("F", bound=Callable[..., Any])


def _quiet_libraries() -> None:
    """TensorFlow's C++ INFO lines and MLflow's download bars would bury our one-line output.

    Only for commands that load a model in this process: a sweep's training processes set
    their own (quieter) TensorFlow level, which an inherited value would override.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def fail(message: str, exit_code: int) -> NoReturn:
    """`hpo: error: <message>` (passwords masked) on stderr, and exit."""
    click.echo(f"hpo: error: {mask_secrets(message)}", err=True)
    sys.exit(exit_code)


def friendly_errors(*, quiet_libraries: bool = False) -> Callable[[F], F]:
    """HpoError -> `hpo: error: ...` on stderr and its exit code; library errors likewise.

    An error that carries a `result` (an export that failed its parity check) still prints
    that result on stdout under `--json`, so scripts get the measurements. An error nobody
    anticipated (a bug) keeps its traceback, masked, and exits 1.
    """

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if quiet_libraries:
                _quiet_libraries()
            mask_log_records()
            try:
                return func(*args, **kwargs)
            except HpoError as err:
                result = getattr(err, "result", None)
                if result is not None and kwargs.get("as_json"):
                    echo_json(result.to_json())
                fail(str(err), err.exit_code)
            except KeyboardInterrupt:
                click.echo("hpo: interrupted", err=True)
                sys.exit(INTERRUPTED_EXIT_CODE)
            except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
                raise  # click's own: usage errors print and exit as click says
            except Exception as err:
                described = describe(err)
                if described is not None:
                    fail(described.message, described.exit_code)
                lines = traceback.format_exception(err)
                sys.stderr.write(mask_secrets("".join(lines)))
                sys.exit(1)

        return wrapper  # type: ignore[return-value]

    return decorate
