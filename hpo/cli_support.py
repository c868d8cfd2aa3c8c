"""What every `hpo` command module shares: errors as one line and an exit code.

A module of its own so command modules need not import `hpo.cli` (with `python -m hpo.cli`
that would load the CLI a second time under another name).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from hpo.errors import HpoError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """HpoError -> one line on stderr and its exit code; never a traceback for bad input."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HpoError as err:
            click.echo(f"hpo: error: {err}", err=True)
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]
