"""`hpo.run` and `hpo.compare`: the sweeps `hpo run` and `hpo compare` are shells over."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.api.experiments import OVERRIDES, as_experiment, with_builder, with_data
from hpo.errors import Interrupted

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.sweep.summary import Best, SweepSummary

Notify = Callable[[str], None]


class HpoWarning(UserWarning):
    """What `hpo run` prints as `hpo: warning:` lines (a cut grid, a changed strategy, ...)."""


def warn(message: str) -> None:
    warnings.warn(message, HpoWarning, stacklevel=2)


@dataclass(frozen=True)
class Summary:
    """The result of `hpo.run`: what `hpo run --json` prints, as attributes."""

    raw: SweepSummary  # the sweep machinery's own summary (the CLI's text reads it)
    experiment_config: Experiment  # the experiment as it ran (overrides, data=, builder=)
    tracking_uri: str

    @property
    def experiment(self) -> str:
        return self.raw.experiment

    @property
    def study(self) -> str:
        return self.raw.study

    @property
    def strategy(self) -> str:
        return self.raw.strategy

    @property
    def sweep_run_id(self) -> str:
        return self.raw.sweep_run_id

    @property
    def states(self) -> dict[str, int]:
        return self.raw.states

    @property
    def n_trials(self) -> int:
        return sum(self.raw.states.values())

    @property
    def best(self) -> Best | None:
        return self.raw.best

    @property
    def pareto(self) -> list[Best]:
        """The Pareto set for several objectives; `[]` for one."""
        return list(self.raw.pareto or [])

    @property
    def wall_seconds(self) -> float:
        return self.raw.wall_seconds

    def to_json(self) -> dict[str, Any]:
        """Exactly the object `hpo run --json` prints."""
        return self.raw.to_json()


def sweep(
    experiment: Any,
    *,
    overrides: Mapping[str, Any],
    study: str | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    devices: str = "auto",
    trials_per_device: int = 1,
    enqueue: str | Sequence[Mapping[str, Any]] | None = None,
    db_patience: float = 120.0,
    allow_strategy_change: bool = False,
    data: Any = None,
    target: str | None = None,
    builder: Callable[..., Any] | None = None,
    progress: bool = True,
    notebook: bool = True,
    partial: bool = True,
    notify: Notify | None = warn,
) -> Summary:
    """Check, then run (or resume) a sweep: the one code path of `hpo run` and `hpo.run`.

    An interrupt raises `hpo.errors.Interrupted` (the CLI's exit 130); `run` turns it back
    into the `KeyboardInterrupt` a notebook expects.
    """
    from hpo.sweep.preflight import check, load_enqueued

    exp, source = as_experiment(experiment, partial=partial)
    exp = exp.with_overrides(**overrides)
    function = None
    if builder is not None:
        exp, function = with_builder(exp, builder)
    if data is not None:
        exp = with_data(exp, data, target)
    # TensorFlow starts in the training processes now, while the rest is checked and set up
    from hpo.sweep.devices import device_envs
    from hpo.sweep.pool import early_training_processes

    envs = device_envs(devices, workers, trials_per_device)
    with early_training_processes(exp, workers, device_envs=envs) as early:
        checked = check(exp, source=source)
        queued: list[dict[str, Any]] = []
        if isinstance(enqueue, str | Path):
            queued = load_enqueued(str(enqueue), checked.space)
        elif enqueue:
            queued = _enqueued_points(enqueue, checked.space)

        # the sweep machinery (MLflow, Optuna) loads only once the input is known to be good
        from hpo.sweep.progress import progress_bar
        from hpo.sweep.setup import SweepOptions, default_study_name, run_sweep
        from hpo.tracking.store import resolve_tracking_uri

        options = SweepOptions(
            study=study or default_study_name(exp.name),
            tracking_uri=resolve_tracking_uri(tracking_uri, exp.tracking.uri),
            storage=storage,
            workers=workers,
            enqueue=queued,
            db_patience_s=db_patience,
            allow_strategy_change=allow_strategy_change,
            devices=devices,
            trials_per_device=trials_per_device,
            early=early,
        )
        on_open = None
        if function is not None:
            from hpo.tracking.builder_source import log_builder_source

            def on_open(run_id: str) -> None:
                log_builder_source(options.tracking_uri, run_id, function.name, function.source)

        metric = exp.primary.metric
        with progress_bar(
            options.study, metric, enabled=progress, notebook=notebook
        ) as on_progress:
            raw = run_sweep(checked, options, on_progress, notify=notify, on_open=on_open)
    return Summary(raw, exp, options.tracking_uri)


def _enqueued_points(points: Sequence[Mapping[str, Any]], space: Any) -> list[dict[str, Any]]:
    """`enqueue=[{...}, ...]` checked as an `--enqueue` file is."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "enqueue.json"
        path.write_text(json.dumps([dict(p) for p in points]), encoding="utf-8")
        from hpo.sweep.preflight import load_enqueued

        return load_enqueued(str(path), space)


def run(
    experiment: Experiment | str | Path | Mapping[str, Any],
    *,
    trials: int | None = None,
    epochs: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    strategy: str | None = None,
    pruner: str | None = None,
    study: str | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    data: Any = None,
    target: str | None = None,
    builder: Callable[..., Any] | None = None,
    progress: bool = True,
    enqueue: str | Sequence[Mapping[str, Any]] | None = None,
    allow_strategy_change: bool = False,
    db_patience: float = 120.0,
    report: bool | None = None,
) -> Summary:
    """Run (or resume) a sweep, as `hpo run` does.

    Args:
        experiment: an `hpo.Experiment`, a YAML path or a dict of the YAML schema.
        trials, epochs, timeout, seed, strategy, pruner: override the config (as the flags).
        study: the study name; an existing study is resumed (default: a new name).
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).
        storage: the ledger (default: $HPO_STORAGE, else the journal hpo-ledger.journal).
        workers: training processes on this machine.
        data: `(X, y)` numpy arrays, or a pandas DataFrame with `target=` its label column,
            instead of `data.source` (the config's split settings apply).
        target: the DataFrame's label column.
        builder: a function `build(params, input_shape, n_classes) -> keras.Model`
            (compiled) instead of `model.builder`; any function, even a closure or one
            defined in a notebook cell: it is shipped to the training processes by value.
        progress: a progress bar (`tqdm.auto`: a widget in Jupyter); False is silent.
        enqueue: parameter sets to evaluate first (a list of dicts, or a JSON file).
        allow_strategy_change: resume a study with another strategy.
        db_patience: seconds to ride out an unreachable database or MLflow.
        report: log the sweep report at the end (default: the config's `tracking.report`).

    Returns:
        `hpo.Summary`: `.study`, `.sweep_run_id`, `.n_trials`, `.states`, `.best`,
        `.pareto`, and `.to_json()` (exactly `hpo run --json`).

    Raises:
        UserInputError: bad input (the message `hpo run` prints), before anything is written.
        HpoError: the sweep stopped (for example the first trials all failed).
        KeyboardInterrupt: interrupted (the stop button): the trials in flight are FAIL,
            the sweep run KILLED, and the study resumes with `study=`.
    """
    overrides = {
        field: value
        for field, value in zip(
            OVERRIDES.values(), (strategy, pruner, trials, timeout, epochs, seed), strict=True
        )
    }
    try:
        summary = sweep(
            experiment,
            overrides=overrides,
            study=study,
            tracking_uri=tracking_uri,
            storage=storage,
            workers=workers,
            enqueue=enqueue,
            db_patience=db_patience,
            allow_strategy_change=allow_strategy_change,
            data=data,
            target=target,
            builder=builder,
            progress=progress,
        )
    except Interrupted as err:
        raise KeyboardInterrupt(str(err)) from err
    if report if report is not None else summary.experiment_config.tracking.report:
        log_report(summary.experiment, summary.study, summary.tracking_uri)
    return summary


def log_report(experiment: str, study: str, tracking_uri: str) -> list[str]:
    """Log the sweep report on the sweep run (`report/`); never fails the finished sweep:
    a problem is a warning. Returns the files logged."""
    import contextlib
    import sys

    from hpo.errors import first_line

    try:
        from hpo.reporting.build import log_sweep_report

        with contextlib.redirect_stdout(sys.stderr):
            done = log_sweep_report(experiment, study, tracking_uri)
    except Exception as err:
        warn(f"the sweep report was not written: {first_line(err, limit=200)}")
        return []
    for message in done.warnings:
        warn(message)
    return list(done.files)


def compare(
    experiment: Experiment | str | Path | Mapping[str, Any],
    strategies: Sequence[str],
    trials: int,
    repeats: int = 3,
    *,
    epochs: int | None = None,
    target: float | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    notify: Notify | None = warn,
    partial: bool = True,
) -> dict[str, Any]:
    """Run several strategies on the same split and budget and rank them (`hpo compare`).

    Args:
        experiment: an `hpo.Experiment`, a YAML path or a dict.
        strategies: strategy names, e.g. `["random", "optuna-tpe"]`.
        trials: the budget of each sweep.
        repeats: paired seeds per strategy.
        epochs: override `budget.epochs`.
        target: the objective value to reach (default: the median best).
        tracking_uri, storage: as for `run`.

    Returns:
        The dict `hpo compare --json` prints.

    Raises:
        UserInputError: bad input (an unknown strategy, a grid too large, ...).
    """
    from hpo.sweep.compare import compare as run_comparison
    from hpo.tracking.store import resolve_tracking_uri

    exp, source = as_experiment(experiment, partial=partial)
    exp = exp.with_overrides(**{"budget.epochs": epochs})
    return run_comparison(
        exp,
        source=source,
        strategies=list(strategies),
        trials=trials,
        repeats=repeats,
        tracking_uri=resolve_tracking_uri(tracking_uri, exp.tracking.uri),
        storage=storage,
        target=target,
        notify=notify,
    )
