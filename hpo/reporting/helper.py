"""A second process for `hpo report`: it reads half of a big sweep's trial runs and fits the
parameter importances while this process does the rest.

Why: on 2 cores a 10,000-trial report spent ~4 s in MLflow's `search_runs` (SQLAlchemy
building ~270,000 rows, one core) and ~1.6 s importing and fitting fANOVA, one after the
other. The helper starts at once, so its own imports (MLflow) overlap this process's; then
it reads the trial runs started in the second half of the sweep's time while this process
reads the first half, and it fits the importances while this process draws the other
pictures (docs/benchmarks.md, reads at 10,000 trials). Both jobs are the same functions this
process would call; if the helper fails or dies, this process does the job itself, so the
report is the same either way. Requests are answered in the order they were sent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SPLIT_TRIALS = 2000  # below this a sweep's trial runs are read in one piece (~0.8 s)


class HelperFailed(RuntimeError):
    """The helper could not answer (its error, or it is gone): do the job here."""


def serve(connection: Connection) -> None:
    """The helper's loop: the store's URI first (on the pipe, never in argv: `ps` shows
    argv, and a URI may hold a password), then `(job, args)` requests answered with
    `(ok, result or error)` until `None` or the other end closes."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")  # the report process's own stderr says what matters
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        tracking_uri = connection.recv()
        from hpo.tracking.reads import RunReads, mlflow_client  # MLflow loads meanwhile here

        reads = RunReads(mlflow_client(tracking_uri))
        from hpo.reporting.axes import param_importances  # fANOVA's own imports: on first use

        jobs: dict[str, Callable[..., Any]] = {
            "trials": lambda exp, sweep, since: reads.trials(exp, sweep, since_ms=since),
            "importances": param_importances,
        }
        while (request := connection.recv()) is not None:
            job, args = request
            try:
                connection.send((True, jobs[job](*args)))
            except Exception as err:
                connection.send((False, f"{type(err).__name__}: {err}"))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass  # the report ended or was interrupted: nothing to tidy


@dataclass
class ReportHelper:
    """This process's end of the helper: jobs sent, answers received in order."""

    process: subprocess.Popen[bytes]
    connection: Connection
    sent: list[str] = field(default_factory=list)  # the jobs asked, in order
    answers: dict[int, tuple[bool, Any]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # the jobs it answered (tests look)

    @classmethod
    def start(cls, tracking_uri: str) -> ReportHelper | None:
        """A helper process for the store at `tracking_uri`; None if none can start.

        `python -m hpo.reporting.helper`, not multiprocessing's spawn: spawn would run the
        caller's main script again in the helper (a user's script without a `__main__`
        guard would build its report twice), and fork is unsafe in a process that holds
        threads and database connections. The two ends talk over a socket pair.
        """
        ours, theirs = multiprocessing.Pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it fails quietly: this process does the job
                env=_importable_env(),
            )
            ours.send(tracking_uri)
        except (OSError, ValueError):  # e.g. no process left to start: work alone
            ours.close()
            return None
        finally:
            theirs.close()
        return cls(process, ours)

    def ask(self, job: str, *args: Any) -> int:
        """Send a job; its ticket for `answer` (-1: it could not be sent)."""
        try:
            self.connection.send((job, args))
        except (OSError, ValueError):
            return -1
        self.sent.append(job)
        return len(self.sent) - 1

    def answer(self, ticket: int) -> Any:
        """The result of job `ticket`, waiting for it; HelperFailed if there is none."""
        if ticket < 0:
            raise HelperFailed("the job was not sent")
        while ticket not in self.answers:
            received = len(self.answers)
            while not self.connection.poll(0.2):
                if self.process.poll() is not None:
                    raise HelperFailed(f"the helper ended (exit code {self.process.returncode})")
            try:
                self.answers[received] = self.connection.recv()
            except (EOFError, OSError) as err:
                raise HelperFailed(f"the helper ended: {err}") from None
        ok, result = self.answers[ticket]
        if not ok:
            raise HelperFailed(str(result))
        self.done.append(self.sent[ticket])
        return result

    def close(self) -> None:
        """End the helper: asked nicely, then killed (it may still be loading MLflow)."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        try:
            self.process.wait(0.5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()


def _importable_env() -> dict[str, str]:
    """This environment, with the folder `hpo` was imported from on PYTHONPATH unless it is
    a site-packages folder (already on the path; ahead of the standard library it could
    shadow it): a notebook that put a checkout on `sys.path` has a helper that finds it."""
    import site

    root = str(Path(__file__).resolve().parents[2])
    known = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root in known:
        return dict(os.environ)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def read_in_two(sweep: Any, helper: ReportHelper) -> None:
    """Read a big sweep's trial runs into `sweep.loaded` in two halves at once: the runs
    started before the middle of the sweep's time here, the others in the helper. Any split
    gives every run exactly once; a sweep that paused for long just splits unevenly."""
    info, reads = sweep.info, sweep.reads
    latest = reads.latest_trial(info.experiment_id, info.run_id)
    if latest is None or latest.trial + 1 < SPLIT_TRIALS:
        return  # small: one read (sweep.records, on first use)
    middle = (info.start_time + latest.start_time) // 2
    from hpo.tracking.reads import trial_order

    ticket = helper.ask("trials", info.experiment_id, info.run_id, middle)
    first = reads.trials(info.experiment_id, info.run_id, before_ms=middle)
    second = answer_or(
        helper, ticket, lambda: reads.trials(info.experiment_id, info.run_id, since_ms=middle)
    )
    sweep.loaded = sorted(first + second, key=trial_order)


def answer_or(helper: ReportHelper | None, ticket: int, fallback: Callable[[], Any]) -> Any:
    """The helper's answer to `ticket`, or `fallback()` run here when it has none."""
    if helper is None:
        return fallback()
    try:
        return helper.answer(ticket)
    except HelperFailed:
        return fallback()


__all__ = [
    "SPLIT_TRIALS",
    "HelperFailed",
    "ReportHelper",
    "answer_or",
    "read_in_two",
    "serve",
]


if __name__ == "__main__":  # the helper process: `python -m hpo.reporting.helper FD`
    serve(Connection(int(sys.argv[1])))
    os._exit(0)  # nothing to flush: skip the interpreter's teardown (~0.5 s with MLflow)
