"""The progress bar on stderr (tqdm): trial n/N, best so far, elapsed and ETA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hpo.sweep.listeners import SweepListener

if TYPE_CHECKING:
    from hpo.search.base import TrialRequest
    from hpo.sweep.summary import Standing
    from hpo.trial.task import TrialResult

ProgressHook = Callable[[int, int, float | None], None]  # (finished, total, best value)


class ProgressListener(SweepListener):
    """Shows the sweep's standing on a progress hook at the start and after every trial."""

    def __init__(self, update: ProgressHook):
        self.update = update

    def on_sweep_start(self, standing: Standing) -> None:
        self.update(standing.counted, standing.budget, standing.best_value)

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        self.update(standing.counted, standing.budget, standing.best_value)


@contextmanager
def progress_bar(
    study: str, metric: str, *, enabled: bool, notebook: bool = False
) -> Iterator[ProgressHook | None]:
    """`notebook`: `tqdm.auto` (a widget where ipywidgets is, text otherwise; the Python API)."""
    if not enabled:
        yield None
        return
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    bar = tqdm(desc=study, unit="trial", dynamic_ncols=True, leave=True)

    def update(finished: int, total: int, best: float | None) -> None:
        bar.total = total
        bar.n = finished
        if best is not None:
            bar.set_postfix_str(f"best {metric}={best:.4f}", refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
