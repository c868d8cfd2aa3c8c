"""The one error wrapper of every `hpo` command: an HpoError is one line and its exit code.

Bad input exits 2, a failed gate 1, an interrupted sweep 130 (each error class says which);
never a traceback. A module of its own so command modules need not import `hpo.cli` (with
`python -m hpo.cli` that would load the CLI a second time under another name).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from hpo.cli.output import echo_json
from hpo.errors import HpoError

F = TypeVar("F", bound=Callable[..., Any])


def _quiet_libraries() -> None:
    """TensorFlow's C++ INFO lines and MLflow's download bars would bury our one-line output.

    Only for commands that load a model in this process: a sweep's training processes set
    their own (quieter) TensorFlow level, which an inherited value would override.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def friendly_errors(*, quiet_libraries: bool = False) -> Callable[[F], F]:
    """HpoError -> `hpo: error: ...` on stderr and its exit code.

    An error that carries a `result` (an export that failed its parity check) still prints
    that result on stdout under `--json`, so scripts get the measurements.
    """

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if quiet_libraries:
                _quiet_libraries()
            try:
                return func(*args, **kwargs)
            except HpoError as err:
                result = getattr(err, "result", None)
                if result is not None and kwargs.get("as_json"):
                    echo_json(result.to_json())
                click.echo(f"hpo: error: {err}", err=True)
                sys.exit(err.exit_code)

        return wrapper  # type: ignore[return-value]

    return decorate
