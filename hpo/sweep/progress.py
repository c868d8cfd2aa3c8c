"""The progress bar on stderr (tqdm): trial n/N, best so far, elapsed and ETA."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hpo.sweep.loop import ProgressHook


@contextmanager
def progress_bar(study: str, metric: str, *, enabled: bool) -> Iterator[ProgressHook | None]:
    if not enabled:
        yield None
        return
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
