"""What every `hpo` command module shares: errors as one line and an exit code.

A module of its own so command modules need not import `hpo.cli` (with `python -m hpo.cli`
that would load the CLI a second time under another name).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hpo.errors import HpoError

if TYPE_CHECKING:
    from hpo.sweep.loop import SweepOptions, SweepSummary
    from hpo.sweep.preflight import Checked

F = TypeVar("F", bound=Callable[..., Any])


db_patience_option = click.option(
    "--db-patience",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds to keep retrying (with backoff) while a database ledger is unreachable.",
)


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


def run_with_progress(checked: Checked, options: SweepOptions, *, quiet: bool) -> SweepSummary:
    """Run a sweep with the stderr progress bar (when a terminal) and warnings as lines."""
    from hpo.sweep.loop import run_sweep
    from hpo.sweep.progress import progress_bar

    metric = checked.experiment.primary.metric
    enabled = not quiet and sys.stderr.isatty()
    with progress_bar(options.study, metric, enabled=enabled) as on_progress:
        return run_sweep(
            checked,
            options,
            on_progress,
            notify=lambda m: click.echo(f"hpo: warning: {m}", err=True),
        )
