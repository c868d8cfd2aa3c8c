"""Running totals (hpo/sweep/tally.py) against the whole-list answers they replace.

The loop no longer looks at every trial after each one; these tests feed random studies to
the tally in random batches, out of order, with retries, and check every answer against a
pass over the whole list with `hpo.config.selection` (the definition of "better").
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from hpo.config import selection
from hpo.config.experiment import Experiment
from hpo.study.ledger import LedgerTrial
from hpo.study.trial_cache import LedgerChanges
from hpo.sweep.tally import Tally
from tests.conftest import tiny_experiment


def _trial(rng: random.Random, number: int, fail_rate: float) -> LedgerTrial:
    state = rng.choices(["COMPLETE", "PRUNED", "FAIL"], [1 - fail_rate, 0.1, fail_rate])[0]
    metrics = {"f1": round(rng.random(), 2), "precision": round(rng.random(), 2)}
    metrics["n_params"] = float(rng.randint(1, 5))
    return LedgerTrial(
        number=number,
        state=state,
        params={},
        values=(metrics["f1"],) if state == "COMPLETE" else None,
        run_id=None,
        metrics=metrics if state != "FAIL" else {},
        interrupted=state == "FAIL" and rng.random() < 0.2,
        error=f"boom {number}" if state == "FAIL" else None,
    )


def _reference(trials: list[LedgerTrial], exp: Experiment) -> dict[str, Any]:
    """The answers the old whole-list Standing gave."""
    complete = [t for t in trials if t.state == "COMPLETE"]
    counted = [t for t in trials if t.counts_toward_budget]
    limit = exp.budget.max_initial_failures
    first = sorted(counted, key=lambda t: t.number)[:limit]
    failed = len(first) >= limit and all(t.state == "FAIL" for t in first)
    best = selection.best(complete, exp.primary, exp.constraints)
    front = selection.pareto_front(complete, exp.objectives, exp.constraints)
    return {
        "counted": len(counted),
        "states": {s: sum(t.state == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")},
        "best": best.number if best else None,
        "front": [t.number for t in front] if exp.multi_objective else [],
        "failed": failed,
    }


CASES = {
    "single": {},
    "constrained": {"constraints": ["precision >= 0.5"]},
    "pareto": {"objective": [{"metric": "f1"}, {"metric": "n_params", "direction": "minimize"}]},
    "failing": {"budget.max_initial_failures": 3},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seed", range(6))
def test_running_totals_agree_with_a_pass_over_every_trial(case: str, seed: int) -> None:
    rng = random.Random(seed)
    exp = Experiment.model_validate(tiny_experiment(**CASES[case]))
    fail_rate = 0.9 if case == "failing" else 0.2
    trials = [_trial(rng, n, fail_rate) for n in range(rng.randint(1, 60))]
    order = list(trials)
    rng.shuffle(order)  # trials finish out of order (several workers)
    tally, seen = Tally(exp), []
    while order:
        cut = rng.randint(1, 5)
        batch, order = order[:cut], order[cut:]
        # a stale FAIL re-queued: it stops counting (its retry counts instead)
        retried = [t.number for t in batch if t.state == "FAIL" and rng.random() < 0.3]
        batch = [t for t in batch if t.number not in retried]
        seen += batch
        standing = tally.update(LedgerChanges(batch, [], []))
        for number in retried:  # told finished first, found retried on a later read
            trial = next(t for t in trials if t.number == number)
            seen.append(trial)
            tally.update(LedgerChanges([trial], [], []))
            seen[-1] = LedgerTrial(**{**trial.__dict__, "retried": True})
            standing = tally.update(LedgerChanges([], [], [number]))
        want = _reference(seen, exp)
        assert standing.counted == want["counted"]
        assert standing.states == want["states"]
        assert (standing.best.trial if standing.best else None) == want["best"]
        assert [b.trial for b in standing.pareto] == want["front"]
        assert (standing.initial_failure() is not None) == want["failed"]


def test_running_and_waiting_come_from_the_unfinished_trials_of_the_last_read() -> None:
    exp = Experiment.model_validate(tiny_experiment())
    rng = random.Random(0)
    running = LedgerTrial(0, "RUNNING", {}, None, None, {}, False)
    waiting = LedgerTrial(1, "WAITING", {}, None, None, {}, False)
    tally = Tally(exp)
    standing = tally.update(LedgerChanges([], [running, waiting], []))
    assert (standing.running, standing.waiting) == (1, True)
    standing = tally.update(LedgerChanges([_trial(rng, 0, 0.0)], [], []))
    assert (standing.running, standing.waiting, standing.counted) == (0, False, 1)
