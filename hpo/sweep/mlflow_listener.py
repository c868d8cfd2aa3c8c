"""The sweep in MLflow: one parent run per sweep, one child run per trial (hpo.tracking).

A listener on the sweep loop (hpo.sweep.listeners). `MlflowListener.open` creates the sweep
run, or joins the study's existing one on resume: its id is kept in the ledger's attributes,
written under the ledger's claim, so workers started together on PostgreSQL share one. A
trial's run is created while it trains and ended once the ledger holds its outcome.

MLflow may fail where the ledger did not (every call already retried for the patience,
hpo.tracking.retry): the trial is then kept in the study's pending folder
(hpo.sweep.pending), the listener stops writing and the sweep stops with one line. The next
run of the study logs what was kept before anything else, and ends the runs left RUNNING as
the ledger says they ended, so the two stores agree again: a COMPLETE trial is never FAILED.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress

from hpo.errors import HpoError, Interrupted
from hpo.search.base import TrialRequest
from hpo.study.ledger import SWEEP_RUN_ATTR, Ledger
from hpo.sweep.listeners import SweepEnd, SweepListener
from hpo.sweep.pending import PendingFolder, PendingTrial
from hpo.sweep.preflight import Checked
from hpo.sweep.signals import StopSignals
from hpo.sweep.summary import Standing
from hpo.sweep.trial_runs import LIVE_LOGGING_GRACE_S, TrialRuns
from hpo.tracking import schema
from hpo.tracking.datasets import split_inputs
from hpo.tracking.retry import TrackingUnavailable, http_fails_fast, reason, retrying_of
from hpo.tracking.runs import Tracker
from hpo.trial.task import TrialResult
from hpo.urls import mask_secrets, mask_url


class MlflowListener(SweepListener):
    def __init__(
        self,
        tracker: Tracker,
        ledger: Ledger,
        checked: Checked,
        experiment_id: str,
        sweep_run_id: str,
        pending: PendingFolder,
        notify: Callable[[str], None] | None = None,
    ):
        self.tracker, self.ledger, self.checked = tracker, ledger, checked
        self.experiment_id, self.sweep_run_id = experiment_id, sweep_run_id
        self.pending, self.notify = pending, notify
        tags = {
            schema.STRATEGY: checked.experiment.strategy.name,
            schema.STUDY: ledger.name,
            schema.INPUT: schema.INPUT_RAW,  # its model scales raw rows itself
        }
        names = checked.dataset.class_names
        inputs = split_inputs(checked.dataset, checked.experiment.data, checked.experiment.name)
        self.trial_runs = TrialRuns(tracker, experiment_id, sweep_run_id, tags, names, inputs)
        self._runs: dict[int, str] = {}  # trial number -> its run, while it is open
        self._started: set[int] = set()  # trials this orchestrator ran (their models)
        self._offline = False  # MLflow failed: keep trials in the pending folder, write nothing
        self._kept = False  # a trial was kept (the user was told where)
        self._ended = False  # the loop had its say on the sweep run (or it was ended here)

    @classmethod
    def open(
        cls,
        connect: Callable[[], Tracker],
        ledger: Ledger,
        checked: Checked,
        storage: str | None,
        *,
        pending: PendingFolder | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> MlflowListener:
        """Connect to MLflow (`connect()`), create or rejoin the study's sweep run, log the
        trials kept from an earlier run, and end the runs of trials left behind.

        Ctrl-C and SIGTERM wait until this is done (a half-created MLflow database or a
        sweep run without its config helps nobody), then end the sweep run KILLED."""
        exp = checked.experiment
        pending = pending or PendingFolder.for_study(storage, ledger.name)
        listener = None
        with StopSignals() as stop:
            tracker = connect()  # a new SQLite store creates its tables now
            with retrying_of(tracker.client).first_contact():
                experiment_id = tracker.experiment_id(exp.experiment_name)
            assert experiment_id is not None
            if stop.received is None:
                run_id, resumed = _join_sweep(tracker, ledger, checked, storage, experiment_id)
                listener = cls(tracker, ledger, checked, experiment_id, run_id, pending, notify)
                try:
                    listener.trial_runs.log_sweep_inputs()
                    with ledger.claim():  # on PostgreSQL, one worker at a time catches up
                        listener.trial_runs.catch_up(ledger, pending, resumed=resumed)
                except BaseException as err:
                    if not isinstance(err, TrackingUnavailable):  # MLflow is there: say so
                        listener.close("FAILED")
                    raise
        if stop.received is not None:
            if listener is not None:
                listener.close("KILLED")
            raise Interrupted(
                f"sweep interrupted while it was set up; nothing ran: resume with --study "
                f"{ledger.name}"
            )
        assert listener is not None
        return listener

    # ---------------------------------------------------------------- the loop's hooks

    def on_trial_start(self, trial: TrialRequest) -> None:
        self._started.add(trial.number)
        if self._offline:
            return
        try:
            run_id = self.trial_runs.start(trial.number, trial.params)
        except Exception as err:
            raise self._go_offline(err) from None
        self.ledger.set_run_id(trial.number, run_id)
        self._runs[trial.number] = run_id

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        """Metrics, tags, the model and the confusion matrix, then the terminal status; kept
        in the pending folder instead when MLflow cannot take them."""
        record = PendingTrial(
            trial=trial.number,
            state=result.state,
            run_id=self._runs.pop(trial.number, None),
            params=dict(trial.params),
            metrics=_metrics(result),
            history=result.history,
            # a training process's error may quote the ledger URL it failed on
            error=mask_secrets(result.error) if result.state == "FAIL" and result.error else None,
            tags=_result_tags(result),
            killed=killed,
            confusion=result.confusion,
            model_dir=result.model_dir,
        )
        if self._offline:
            self._keep(record)
            return
        try:
            self.trial_runs.log(record)
        except Exception as err:
            self._keep(record)
            raise self._go_offline(err) from None

    def on_trials_stale(self, numbers: Sequence[int], reason: str) -> None:
        if self._offline:  # the next run ends their runs as the ledger says (FAIL)
            return
        try:
            self.trial_runs.end_stale(set(numbers), reason)
        except Exception as err:
            raise self._go_offline(err) from None

    def on_sweep_end(self, end: SweepEnd) -> None:
        if end.summary is None:
            self._give_up(end)
            return
        self._ended = True
        if end.others_running or self._offline:
            # several workers: the last one to stop ends the sweep run; MLflow gone: the
            # next run of the study reopens it
            return
        summary, best = end.summary, end.summary.best
        try:
            if self.ledger.heartbeats:  # the last worker out: runs a dead one left RUNNING
                trials = {t.number: t for t in self.ledger.trials()}
                self.trial_runs.end_left_running(trials, self.pending, grace_s=LIVE_LOGGING_GRACE_S)
            self.tracker.end_sweep(
                self.sweep_run_id,
                end.status,
                best_metric=summary.objective,
                best_value=best.metrics.get(summary.objective) if best else None,
                best_run_id=best.run_id if best else None,
                summary={f"n_{k.lower()}": float(v) for k, v in summary.states.items()},
                tags=_stop_tags(summary.stop_reason, summary.stop_detail),
            )
        except Exception as err:
            raise self._go_offline(err) from None

    # ---------------------------------------------------------------- around the loop

    def close(self, status: str) -> None:
        """End the sweep run `status` if the loop never did (set-up interrupted or failed),
        unless other workers still train in it; MLflow or ledger errors here would only
        hide the error that brought us here."""
        if self._ended or self._offline:
            return
        self._ended = True
        with suppress(Exception):
            if self.ledger.heartbeats and any(t.state == "RUNNING" for t in self.ledger.trials()):
                return
            self.tracker.end_sweep(self.sweep_run_id, status)

    def tidy(self) -> None:
        """Remove the models of this orchestrator's trials that were logged or never will
        be (killed); kept trials stay. After the training processes have stopped."""
        self.pending.tidy(self._started)

    def _keep(self, record: PendingTrial) -> None:
        """A trial MLflow did not take, into the pending folder; the first one is said."""
        path = self.pending.save(record)
        if self.notify is not None and not self._kept:
            model = " and its saved model" if record.model_dir else ""
            self.notify(
                f"trial {record.trial} could not be logged to MLflow: its results{model} are "
                f"kept in {path.parent}, to be logged when the study is run again "
                f"(--study {self.ledger.name})"
            )
        self._kept = True

    def _go_offline(self, err: Exception) -> BaseException:
        """Stop writing to MLflow (the next run of the study catches up); the error to raise."""
        self._offline = True
        return _one_line(err, self.tracker.uri)

    def _give_up(self, end: SweepEnd) -> None:
        """The ledger database is lost: tell MLflow what it can be told, quickly. If its
        server shares the lost database, the next worker to start ends the runs instead."""
        with http_fails_fast(), suppress(Exception):  # no minutes of retries now
            for number in end.lost:
                run_id = self._runs.pop(number, None)
                if run_id is not None:
                    self.tracker.finish_trial(
                        run_id, "FAIL", metrics={}, history={}, error=end.error, killed=True
                    )
            self.tracker.end_sweep(self.sweep_run_id, "FAILED")
            self._ended = True


def _join_sweep(
    tracker: Tracker, ledger: Ledger, checked: Checked, storage: str | None, experiment_id: str
) -> tuple[str, bool]:
    """The study's sweep run (created, or reopened on resume) and whether it existed."""
    exp = checked.experiment
    tags = {
        schema.STRATEGY: exp.strategy.name,
        schema.CONFIG_SHA256: exp.sha256(),
        schema.DATA_SHA256: checked.dataset.fingerprint,
        schema.OBJECTIVE: exp.primary.metric,
        schema.DIRECTION: exp.primary.direction,
        schema.OBJECTIVES: ",".join(f"{o.metric}:{o.direction}" for o in exp.objectives),
        schema.CONSTRAINTS: ", ".join(map(str, exp.constraints)),
        schema.PRUNER: exp.strategy.pruner,
        schema.AVERAGE: exp.primary.average,
        schema.MODEL_BUILDER: exp.model.builder,
        schema.STORAGE: mask_url(storage or "journal (default)"),
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
    return run_id, existing is not None


def _one_line(err: Exception, uri: str) -> BaseException:
    """MLflow's errors and the disk's as one line (exit 1); anything else (a bug) as it is."""
    if isinstance(err, HpoError):
        return err
    if isinstance(err, OSError) or type(err).__module__.startswith("mlflow"):
        return TrackingUnavailable(f"cannot write to MLflow at {mask_url(uri)}: {reason(err)}")
    return err


def _metrics(result: TrialResult) -> dict[str, float]:
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
    costs = {
        "cpu_seconds": result.cpu_seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "gpu_peak_mb": result.gpu_peak_mb,
        "score_std": result.score_std,
    }
    metrics.update({name: value for name, value in costs.items() if value is not None})
    return metrics


def _stop_tags(reason: str | None, detail: str | None) -> dict[str, str]:
    """A sweep a budget.stop_when rule ended: the rule's name and why."""
    if reason is None:
        return {}
    return {schema.STOP_REASON: reason, schema.STOP_DETAIL: detail or reason}


def _result_tags(result: TrialResult) -> dict[str, str]:
    # hpo.model=logged is set by the upload itself: a model kept for later is not logged yet
    tags = {schema.WORKER_PID: str(result.worker_pid)} if result.worker_pid else {}
    if result.device is not None:
        tags[schema.DEVICE] = result.device
    if result.peak_rss_scope is not None:
        tags[schema.PEAK_RSS_SCOPE] = result.peak_rss_scope
    if result.precision_policy is not None:
        tags[schema.PRECISION_POLICY] = result.precision_policy
    if result.pruned_epoch is not None:
        tags[schema.PRUNED_EPOCH] = str(result.pruned_epoch)
    if result.pruned_fold is not None:
        tags[schema.PRUNED_FOLD] = str(result.pruned_fold)
    return tags
