"""The report's pictures of a big sweep draw a sample (hpo/reporting/sample.py)."""

from __future__ import annotations

import random

from hpo.reporting import sample


def test_small_sweeps_draw_every_trial() -> None:
    assert sample.for_pictures([0.1, 0.5, 0.2], "maximize") == [0, 1, 2]
    assert sample.uniform(3) == [0, 1, 2]
    assert sample.caption(3, 3) == ""


def test_big_sweeps_draw_the_best_and_a_seeded_sample_of_the_rest() -> None:
    values = [random.Random(1).random() for _ in range(10_000)]
    shown = sample.for_pictures(values, "maximize")
    assert len(shown) == sample.PICTURE_TRIALS and shown == sorted(set(shown))
    best = sorted(range(len(values)), key=lambda i: -values[i])[: sample.BEST_KEPT]
    assert set(best) <= set(shown)
    assert shown == sample.for_pictures(values, "maximize")  # the same picture every time
    lowest = sorted(range(len(values)), key=lambda i: values[i])[: sample.BEST_KEPT]
    assert set(lowest) <= set(sample.for_pictures(values, "minimize"))
    fitted = sample.uniform(len(values), sample.IMPORTANCE_TRIALS)
    assert len(fitted) == sample.IMPORTANCE_TRIALS and max(fitted) > 9_000  # spread over all
    assert "of 10000" in sample.caption(len(shown), len(values))
