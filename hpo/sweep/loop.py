"""Run a sweep: strategy.ask -> trial pipeline (in a worker process) -> tracker -> tell.

The orchestrating process never imports TensorFlow. It owns the ledger (Optuna study),
the MLflow sweep run and the strategy; workers only train and evaluate. Faults end in a
consistent state: a trial is FAIL in both the ledger and MLflow, the sweep run is KILLED
or FAILED, never left RUNNING.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hpo.config import selection
from hpo.errors import Interrupted, SweepAborted, UserInputError
from hpo.metrics import METRIC_NAMES
from hpo.search import strategy_for
from hpo.search.base import Outcome, Strategy, TrialRequest
from hpo.search.grid import SearchExhausted
from hpo.study.ledger import SWEEP_RUN_ATTR, Heartbeat, Ledger, LedgerTrial, mask_secrets, mask_url
from hpo.study.retry import Backoff, DatabaseUnavailable
from hpo.sweep.pool import LedgerRef, TrialExecutor, TrialTask
from hpo.sweep.preflight import Checked
from hpo.tracking.runs import Tracker
from hpo.trial.pipeline import TrialResult
from hpo.trial.pruning import make_pruner

STALE_REASON = "its process ended before the trial finished"
_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def default_study_name(experiment_name: str) -> str:
    return f"{experiment_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@dataclass
class SweepOptions:
    study: str
    tracking_uri: str
    storage: str | None = None
    workers: int = 1
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    # shared-database ledgers: Optuna heartbeats find trials whose orchestrator died
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    # `hpo worker`: one of several orchestrators on the study (strategy seeds must differ)
    joined: bool = False
    threads: int | None = None  # TensorFlow threads per training process (default: share)
    # database ledgers: how long to ride out an unreachable database before giving up
    db_patience_s: float = 120.0


@dataclass
class Best:
    trial: int
    run_id: str | None
    params: dict[str, Any]
    metrics: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "run_id": self.run_id,
            "params": self.params,
            "metrics": {k: self.metrics.get(k) for k in METRIC_NAMES},
        }


@dataclass
class SweepSummary:
    experiment: str
    study: str
    strategy: str
    sweep_run_id: str
    states: dict[str, int]
    best: Best | None
    objective: str
    pareto: list[Best] | None = None
    wall_seconds: float = 0.0
    new_trials: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "study": self.study,
            "strategy": self.strategy,
            "sweep_run_id": self.sweep_run_id,
            "n_trials": sum(self.states.values()),
            "states": self.states,
            "best": self.best.to_json() if self.best else None,
            **({"pareto": [b.to_json() for b in self.pareto]} if self.pareto is not None else {}),
        }


ProgressHook = Callable[[int, int, float | None], None]  # (finished, total, best value)


@dataclass
class _InFlight:
    request: TrialRequest
    run_id: str | None = None
    beat: Any = None  # Optuna heartbeat thread, beaten while the trial trains elsewhere

    def stop_beating(self) -> None:
        if self.beat is not None:
            self.beat.join()
            self.beat = None


class _StopSignals:
    """Ctrl-C and SIGTERM stop the sweep, but only where that is safe.

    While the orchestrator waits for training, a signal interrupts at once. During
    bookkeeping (ask, create the run, log, tell) it is only noted, and honoured right after,
    so a trial is never half-recorded (created in MLflow but unknown to the clean-up).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.interruptible = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum
        if self.interruptible:
            raise KeyboardInterrupt(f"signal {signum}")

    def __enter__(self) -> _StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {self.received}")


@dataclass
class Sweep:
    checked: Checked
    options: SweepOptions
    on_progress: ProgressHook | None = None
    _in_flight: dict[Future[TrialResult], _InFlight] = field(default_factory=dict)
    _submitted: int = 0
    _broken: bool = False
    _exhausted: bool = False
    notify: Callable[[str], None] | None = None

    def run(self) -> SweepSummary:
        with tempfile.TemporaryDirectory(prefix="hpo-models-") as model_root:
            return self._run(model_root)

    def _run(self, model_root: str) -> SweepSummary:
        exp = self.checked.experiment
        started = time.perf_counter()
        executor = TrialExecutor(
            exp,
            self.checked.dataset,
            model_root,
            self.options.workers,
            LedgerRef(self.options.storage, self.options.study),
            threads=self.options.threads,
        )
        try:
            ledger = self._open_ledger()
            strategy = strategy_for(exp, self.checked.space)
            if self.options.joined:  # several workers with one seed would ask the same points
                strategy.seed += os.getpid()
            for params in self.options.enqueue:  # before attach: backends replay the ledger
                ledger.enqueue(params)
            strategy.attach(ledger)
            self._warn_about_budget(strategy, ledger)
            tracker = Tracker(self.options.tracking_uri)
            experiment_id, sweep_run_id = self._open_sweep_run(tracker, ledger)
        except BaseException:
            executor.kill()
            raise
        self.ledger, self.strategy, self.tracker = ledger, strategy, tracker
        self.experiment_id, self.sweep_run_id = experiment_id, sweep_run_id
        self.executor = executor
        self.started = started

        status = "FAILED"
        try:
            with _StopSignals() as stop:
                self._loop(stop)
            status = "FINISHED"
        except DatabaseUnavailable as err:
            with _signals_ignored():
                self._give_up(str(err))
            raise
        except KeyboardInterrupt:
            with _signals_ignored():
                self._abandon_in_flight("interrupted (Ctrl-C or SIGTERM)", killed=True)
                status = "KILLED"
                self._finish(status)
            raise Interrupted(
                f"sweep interrupted; completed trials are kept: resume with --study {ledger.name}"
            ) from None
        except BaseException as err:
            with _signals_ignored():
                self._abandon_in_flight(f"sweep stopped: {err}", killed=True)
                self._finish("FAILED")
            raise
        summary = self._finish(status)
        return summary

    # ---------------------------------------------------------------- setup

    def _open_ledger(self) -> Ledger:
        exp = self.checked.experiment
        ledger = Ledger.open(
            self.options.storage,
            self.options.study,
            self.checked.directions,
            pruner=make_pruner(exp.strategy.pruner, exp.budget.epochs),
            heartbeat=self.options.heartbeat,
            backoff=Backoff(patience_s=self.options.db_patience_s),
            notify=self.notify,
        )
        attrs = ledger.attrs()
        fingerprint = {
            "hpo.search_sha256": exp.search_sha256(),
            "hpo.data_sha256": self.checked.dataset.fingerprint,
        }
        if "hpo.search_sha256" in attrs:
            for key, value in fingerprint.items():
                if attrs.get(key) != value:
                    what = "data" if "data" in key else "search space, data, model or objective"
                    raise UserInputError(
                        f"study {ledger.name!r} was run with a different {what}; "
                        "use a new --study name",
                        field="--study",
                    )
        else:
            ledger.set_attrs({**fingerprint, "hpo.experiment": exp.experiment_name})
        if ledger.heartbeats:  # other workers may be training: only trials without heartbeat
            self.stale_trials = [number for number, _ in ledger.fail_stale()]
        else:  # one orchestrator per study: whatever is RUNNING now was left by a dead one
            self.stale_trials = ledger.fail_running(STALE_REASON)
        return ledger

    def _warn_about_budget(self, strategy: Strategy, ledger: Ledger) -> None:
        size = getattr(strategy, "size", None)
        if size is None or self.notify is None:
            return
        budget = self.checked.experiment.budget.trials
        if budget < size:
            self.notify(
                f"the trial budget ({budget}) cuts the grid of {size} candidates: the first "
                f"{budget} in grid order are evaluated (raise --trials to {size} for all)"
            )

    def _open_sweep_run(self, tracker: Tracker, ledger: Ledger) -> tuple[str, str]:
        exp = self.checked.experiment
        experiment_id = tracker.experiment_id(exp.experiment_name)
        assert experiment_id is not None
        existing = tracker.find_sweep(experiment_id, ledger.name)
        tags = {
            "hpo.strategy": exp.strategy.name,
            "hpo.config_sha256": exp.sha256(),
            "hpo.data_sha256": self.checked.dataset.fingerprint,
            "hpo.objective": exp.primary.metric,
            "hpo.direction": exp.primary.direction,
            "hpo.objectives": ",".join(f"{o.metric}:{o.direction}" for o in exp.objectives),
            "hpo.constraints": ", ".join(map(str, exp.constraints)),
            "hpo.pruner": exp.strategy.pruner,
            "hpo.average": exp.primary.average,
            "hpo.model_builder": exp.model.builder,
            "hpo.storage": mask_url(self.options.storage or "journal (default)"),
        }
        config_yaml = mask_secrets(exp.to_yaml())  # a password in a URL never reaches MLflow
        with ledger.claim():  # the first worker creates the sweep run, the others join it
            known = ledger.attrs().get(SWEEP_RUN_ATTR)
            existing = tracker.sweep_by_id(known) if known else None
            if existing is None or existing.experiment_id != experiment_id:
                existing = tracker.find_sweep(experiment_id, ledger.name)
            run_id = tracker.start_sweep(experiment_id, ledger.name, tags, config_yaml, existing)
            if known != run_id:
                ledger.set_attrs({SWEEP_RUN_ATTR: run_id})
        if ledger.heartbeats:
            # runs of trials failed as stale: now, or earlier by a worker that died before
            # it could end them (a stale FAIL has no error attr; every other FAIL has one)
            stale = set(self.stale_trials) | {
                t.number for t in ledger.trials() if t.state == "FAIL" and t.error is None
            }
            tracker.end_trial_runs(experiment_id, run_id, stale, STALE_REASON)
        elif existing is not None:
            tracker.end_stale_trials(experiment_id, run_id, STALE_REASON)
        return experiment_id, run_id

    # ---------------------------------------------------------------- the loop

    def _loop(self, stop: _StopSignals) -> None:
        """Keep `workers` trials training. The critical path between two trials is only
        ledger + strategy (tell, ask); MLflow writes happen while the next trial trains."""
        deadline = (
            self.started + self.checked.experiment.budget.timeout_s
            if self.checked.experiment.budget.timeout_s
            else None
        )
        self._report()
        while True:
            stop.check()
            if self._broken and not self._in_flight:
                self.executor.restart()
                self._broken = False
            self._fill(deadline)
            self._open_runs()
            if not self._in_flight:
                if not self._others_may_need_us(deadline):
                    return
                stop.interruptible = True  # another worker's trial may go stale: wait
                try:
                    stop.check()
                    time.sleep(min(1.0, float(self.options.heartbeat.interval_s)))
                finally:
                    stop.interruptible = False
                continue
            stop.interruptible = True
            try:
                stop.check()
                done, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED, timeout=1.0)
            finally:
                stop.interruptible = False
            settled = [self._settle(future) for future in done]
            try:
                self._check_initial_failures()
            except SweepAborted:
                for flight, result in settled:
                    self._log(flight, result)
                raise
            self._fill(deadline)  # next trials start training before we log the last ones
            for flight, result in settled:
                self._log(flight, result)

    def _fill(self, deadline: float | None) -> None:
        """Ask for and submit trials while there is budget and a free worker.

        The budget counts the trials of every worker on the study (finished ones and
        RUNNING ones); "check, then ask" runs under the ledger's claim, so several workers
        never overshoot the budget or take the same grid candidate.
        """
        budget = self.checked.experiment.budget
        self._reap_stale()
        while len(self._in_flight) < self.options.workers and not self._broken:
            # like Optuna's timeout: checked before each new trial, after at least one
            if deadline is not None and self._submitted and time.perf_counter() >= deadline:
                return
            with self.ledger.claim():
                trials = self.ledger.trials()
                counted = sum(t.counts_toward_budget for t in trials)
                running = sum(t.state == "RUNNING" for t in trials)
                if counted + running >= budget.trials:
                    return
                retry = self.ledger.ask_retry(self.checked.space)  # a dead worker's trial
                if retry is not None:
                    request = TrialRequest(*retry)
                elif self._exhausted:
                    return
                else:
                    try:
                        request = self.strategy.ask()
                    except SearchExhausted:
                        self._exhausted = True  # a grid has no candidate left
                        return
                beat = self.ledger.heartbeat_thread(request.number)
                beat.start()  # first beat now, while the claim still holds
            self._submit(request, beat)

    def _reap_stale(self) -> None:
        """Fail trials of dead workers (heartbeat too old), re-queue them, end their runs."""
        failed = self.ledger.fail_stale(every_s=float(self.options.heartbeat.interval_s))
        if failed:
            self.tracker.end_trial_runs(
                self.experiment_id, self.sweep_run_id, {n for n, _ in failed}, STALE_REASON
            )
            if self.notify is not None:
                numbers = ", ".join(str(n) for n, _ in failed)
                self.notify(f"trial(s) {numbers} of a dead worker failed as stale; retried")

    def _others_may_need_us(self, deadline: float | None) -> bool:
        """With no trial of our own in flight, stay while another worker's trial runs and the
        budget is not spent: if that worker dies, its trial is retried here."""
        if not self.ledger.heartbeats or self._broken:
            return False
        if deadline is not None and time.perf_counter() >= deadline:
            return False
        trials = self.ledger.trials()
        counted = sum(t.counts_toward_budget for t in trials)
        return counted < self.checked.experiment.budget.trials and any(
            t.state in ("RUNNING", "WAITING") for t in trials
        )

    def _submit(self, request: TrialRequest, beat: Any = None) -> None:
        exp = self.checked.experiment
        best = self.best()
        task = TrialTask(
            number=request.number,
            params=request.params,
            seed=exp.seed + request.number,
            model_threshold=best.metrics.get(exp.primary.metric) if best else None,
            save_model=exp.tracking.log_models,
            trial_id=self.ledger.trial_id(request.number),
        )
        self._in_flight[self.executor.submit(task)] = _InFlight(request, beat=beat)
        self._submitted += 1

    def _open_runs(self) -> None:
        """Create the MLflow run of every submitted trial that has none yet."""
        for flight in self._in_flight.values():
            self._ensure_run(flight)

    def _ensure_run(self, flight: _InFlight) -> str:
        if flight.run_id is None:
            exp = self.checked.experiment
            flight.run_id = self.tracker.start_trial(
                self.experiment_id,
                self.sweep_run_id,
                flight.request.number,
                flight.request.params,
                {
                    "hpo.strategy": exp.strategy.name,
                    "hpo.study": self.ledger.name,
                    "hpo.worker": _WORKER,  # which machine and orchestrator ran it
                },
            )
            self.ledger.set_run_id(flight.request.number, flight.run_id)
        return flight.run_id

    def _settle(self, future: Future[TrialResult]) -> tuple[_InFlight, TrialResult]:
        """Take a finished trial's result into the ledger and the strategy."""
        flight = self._in_flight.pop(future)
        try:
            result = future.result()
        except BrokenProcessPool:  # the training process died (OOM kill, segfault, kill -9)
            result = TrialResult(state="FAIL", error="the training process died")
            self._broken = True
        except Exception as err:  # pickling or a bug in the worker: fail this trial only
            result = TrialResult(state="FAIL", error=f"{type(err).__name__}: {err}")
        try:
            self._tell(flight, result)
        finally:
            flight.stop_beating()
        return flight, result

    def _tell(self, flight: _InFlight, result: TrialResult, *, interrupted: bool = False) -> None:
        exp = self.checked.experiment
        found = [result.value(o.metric) for o in exp.objectives]
        values = tuple(v for v in found if v is not None) if None not in found else None
        if result.state == "COMPLETE" and values is None:
            result.state = "FAIL"
            result.error = result.error or "an objective metric is not a number"
        self.ledger.finish(
            flight.request.number,
            result.state,  # type: ignore[arg-type]
            values if result.state == "COMPLETE" else None,
            metrics=result.scores(),
            error=result.error,
            interrupted=interrupted,
        )
        self.strategy.tell(flight.request, Outcome(result.state, values))  # type: ignore[arg-type]

    def _log(self, flight: _InFlight, result: TrialResult, *, killed: bool = False) -> None:
        """Write a settled trial to MLflow: metrics, tags, model, terminal status."""
        run_id = self._ensure_run(flight)
        metrics = dict(result.metrics)
        if result.state != "FAIL" or result.fit_seconds:
            metrics.update(
                fit_seconds=result.fit_seconds,
                trial_seconds=result.trial_seconds,
                predict_seconds=result.predict_seconds,
                build_seconds=result.build_seconds,
                n_params=float(result.n_params),
                epochs=float(result.epochs_run),
            )
        if result.model_dir:
            self.tracker.log_model_dir(run_id, result.model_dir)
        if result.confusion is not None:
            names = self.checked.dataset.class_names
            self.tracker.log_confusion(run_id, names, result.confusion)
        self.tracker.finish_trial(
            run_id,
            result.state,
            metrics=metrics,
            history=result.history,
            error=result.error if result.state == "FAIL" else None,
            extra_tags=_result_tags(result),
            killed=killed,
        )
        self._report()

    def _abandon_in_flight(self, reason: str, *, killed: bool) -> None:
        """Kill the workers and mark every running trial FAIL (kept out of the budget)."""
        self.executor.kill()
        for flight in list(self._in_flight.values()):
            result = TrialResult(state="FAIL", error=reason)
            self._ensure_run(flight)  # the run id goes into the ledger before it is finished
            self._tell(flight, result, interrupted=True)
            flight.stop_beating()
            self._log(flight, result, killed=killed)
        self._in_flight.clear()

    def _give_up(self, reason: str) -> None:
        """The ledger database is gone: stop training and end this worker's MLflow runs.

        Nothing is written to the ledger (it is unreachable): the trials in flight stay
        RUNNING there without heartbeats, so the next worker to start fails them as stale
        and retries them; none counts as complete. MLflow is told what it can be told; if
        its server shares the lost database, the next start ends the runs instead.
        """
        self.executor.kill()
        for flight in list(self._in_flight.values()):
            flight.stop_beating()
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # no minutes of retries now
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"
        with suppress(Exception):  # MLflow unreachable too: the next start ends the runs
            for flight in list(self._in_flight.values()):
                if flight.run_id is not None:
                    self.tracker.finish_trial(
                        flight.run_id, "FAIL", metrics={}, history={}, error=reason, killed=True
                    )
            self.tracker.end_sweep(self.sweep_run_id, "FAILED")
        self._in_flight.clear()

    def _check_initial_failures(self) -> None:
        limit = self.checked.experiment.budget.max_initial_failures
        counted = [t for t in self.ledger.trials() if t.counts_toward_budget]
        first = sorted(counted, key=lambda t: t.number)[:limit]
        if len(first) >= limit and all(t.state == "FAIL" for t in first):
            errors = [t for t in self.ledger.trials() if t.state == "FAIL"]
            last = self._last_error(errors[-1]) if errors else "unknown"
            raise SweepAborted(f"the first {limit} trials all failed; last error: {last}")

    def _last_error(self, trial: LedgerTrial) -> str:
        return trial.error or "unknown"

    # ---------------------------------------------------------------- results

    def _complete(self) -> list[LedgerTrial]:
        return [t for t in self.ledger.trials() if t.state == "COMPLETE"]

    def best(self) -> Best | None:
        """The best feasible trial on the primary objective (for several objectives: the
        Pareto set's best on the first one)."""
        exp = self.checked.experiment
        top = selection.best(self._complete(), exp.primary, exp.constraints)
        return Best(top.number, top.run_id, top.params, top.metrics) if top else None

    def pareto(self) -> list[Best]:
        exp = self.checked.experiment
        front = selection.pareto_front(self._complete(), exp.objectives, exp.constraints)
        return [Best(t.number, t.run_id, t.params, t.metrics) for t in front]

    def _report(self) -> None:
        if self.on_progress is None:
            return
        best = self.best()
        metric = self.checked.experiment.primary.metric
        self.on_progress(
            self.ledger.n_counted(),
            self.checked.experiment.budget.trials,
            best.metrics.get(metric) if best else None,
        )

    def _finish(self, status: str) -> SweepSummary:
        exp = self.checked.experiment
        states = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for trial in self.ledger.trials():
            if trial.state in states:
                states[trial.state] += 1
        best = self.best()
        # with several workers the last one to stop ends the sweep run: a worker that
        # stops while others still train leaves it RUNNING for them
        others_running = self.ledger.heartbeats and any(
            t.state == "RUNNING" for t in self.ledger.trials()
        )
        if not others_running:
            self.tracker.end_sweep(
                self.sweep_run_id,
                status,
                best_metric=exp.primary.metric,
                best_value=best.metrics.get(exp.primary.metric) if best else None,
                best_run_id=best.run_id if best else None,
                summary={f"n_{k.lower()}": float(v) for k, v in states.items()},
            )
        self.executor.kill()  # nothing left to run; a graceful TensorFlow exit costs ~3 s
        return SweepSummary(
            experiment=exp.experiment_name,
            study=self.ledger.name,
            strategy=exp.strategy.name,
            sweep_run_id=self.sweep_run_id,
            states=states,
            best=best,
            pareto=self.pareto() if exp.multi_objective else None,
            objective=exp.primary.metric,
            wall_seconds=time.perf_counter() - self.started,
            new_trials=self._submitted,
        )


def _result_tags(result: TrialResult) -> dict[str, str]:
    tags = {"hpo.worker_pid": str(result.worker_pid)} if result.worker_pid else {}
    if result.model_dir:
        tags["hpo.model"] = "logged"
    if result.pruned_epoch is not None:
        tags["hpo.pruned_epoch"] = str(result.pruned_epoch)
    return tags


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the clean-up of the first."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def run_sweep(
    checked: Checked,
    options: SweepOptions,
    on_progress: ProgressHook | None = None,
    notify: Callable[[str], None] | None = None,
) -> SweepSummary:
    return Sweep(checked, options, on_progress, notify=notify).run()


__all__ = ["Best", "Strategy", "SweepOptions", "SweepSummary", "default_study_name", "run_sweep"]
