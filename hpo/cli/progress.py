"""Running a sweep from a command (`hpo run`, `hpo worker`): the progress bar and warnings.

A module of its own so the two command modules share it without importing each other.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from hpo.cli.output import warn

if TYPE_CHECKING:
    from hpo.sweep.preflight import Checked
    from hpo.sweep.setup import SweepOptions
    from hpo.sweep.summary import SweepSummary


def run_with_progress(checked: Checked, options: SweepOptions, *, quiet: bool) -> SweepSummary:
    """Run a sweep with the stderr progress bar (when a terminal) and warnings as lines."""
    from hpo.sweep.progress import progress_bar
    from hpo.sweep.setup import run_sweep

    metric = checked.experiment.primary.metric
    enabled = not quiet and sys.stderr.isatty()
    with progress_bar(options.study, metric, enabled=enabled) as on_progress:
        return run_sweep(
            checked,
            options,
            on_progress,
            notify=warn,
        )
