"""Cost per trial as a study grows (1,000 and 10,000 trials), and the reads of a big sweep.

The orchestrator's own cost per trial (ledger, strategy, MLflow logging: the gap between two
trials, training excluded) by trial-number decile, on the embedded default (journal ledger +
SQLite MLflow) or on PostgreSQL (Optuna RDB) + a real `mlflow server --workers 2` with
`--workers` orchestrators (default 2, each its own process, as `hpo worker`) on one study.
Goal: the last decile within 1.3x of the second.

Trials are DRY RUNS: the real `hpo.sweep.setup.open_sweep` builds the real ledger, strategy
and MLflow listener, but its pool of training processes is replaced by one that answers
each task at once, in-process, with plausible scores (no Keras). Why: even a one-step Keras
trial costs ~0.3 s of training-process time, so 10,000 of them take an hour more and the
gap we measure would be buried in TensorFlow's noise; the training side is the same code
whatever the study size (a process per slot, recycled), so it cannot make the cost grow.
The dry-run pool exists only here, not in the product.

Then (`--reads`) it times `hpo trials`, `hpo best`, `hpo report` and `hpo promote` on the
sweep just built, each a fresh CLI process as a user runs it (goal at 10,000 trials: < 10 s).

    python benchmarks/scale.py --trials 1000 [--backend embedded|postgres] [--reads]
    python benchmarks/scale.py --trials 10000 --backend embedded --reads    # the lead, quiet
    python benchmarks/scale.py --trials 10000 --backend postgres [--workers 2]

Needs for postgres: PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth); it creates
and drops its own databases and starts its own `mlflow server`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = "postgresql://postgres@127.0.0.1:5432"

CONFIG = {
    "name": "scale",
    "seed": 1,
    "data": {"source": "digits"},
    "model": {"builder": "mlp"},
    "search_space": {
        "params": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "units": {"type": "int", "low": 16, "high": 256},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "batch_size": 32,
        }
    },
    "strategy": {"name": "random"},
    "budget": {"trials": 1000, "epochs": 1},
    "tracking": {"log_models": False, "report": False},
}


class DryRunPool:
    """Answers each trial at once with scores from its parameters; notes when it was asked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.submitted: list[tuple[float, float]] = []  # (wall, this process's CPU) seconds

    def submit(self, task: Any) -> Future[Any]:
        from hpo.trial.task import TrialResult

        self.submitted.append((time.perf_counter(), time.process_time()))
        lr = float(task.params.get("learning_rate", 0.01))
        f1 = max(0.0, min(1.0, 0.95 - 0.05 * abs(math.log10(lr) + 2.5) - 0.01 * (task.number % 7)))
        result = TrialResult(
            state="COMPLETE",
            metrics={"f1": f1, "accuracy": f1, "precision": f1, "recall": f1, "val_loss": 1 - f1},
            history={"loss": [1.0 - f1], "val_loss": [1.0 - f1]},
            n_params=1000 + int(task.params.get("units", 0)),
            epochs_run=1,
            fit_seconds=0.001,
            trial_seconds=0.001,
        )
        future: Future[Any] = Future()
        future.set_result(result)
        return future

    def restart(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def release(self) -> None:
        self.kill()


def run_sweep(
    config: Path, trials: int, storage: str | None, tracking: str, *, joined: bool = False
) -> dict[str, Any]:
    """One dry-run sweep in this process (`joined`: as one `hpo worker` of several on the
    study); per-trial gaps by decile."""
    import hpo.sweep.setup as setup
    from hpo.config.experiment import load_experiment
    from hpo.sweep.preflight import check

    pools: list[DryRunPool] = []

    def make_pool(*args: Any, **kwargs: Any) -> DryRunPool:
        pools.append(DryRunPool())
        return pools[-1]

    setup.TrialExecutor = make_pool  # type: ignore[assignment,misc]
    experiment = load_experiment(str(config)).with_overrides(**{"budget.trials": trials})
    checked = check(experiment, source=str(config))
    options = setup.SweepOptions(
        study="scale", tracking_uri=tracking, storage=storage, joined=joined
    )
    started = time.perf_counter()
    summary = setup.run_sweep(checked, options)
    wall = time.perf_counter() - started
    stamps = pools[0].submitted
    wall_gaps = [b[0] - a[0] for a, b in itertools.pairwise(stamps)]
    cpu_gaps = [b[1] - a[1] for a, b in itertools.pairwise(stamps)]
    wall_deciles, cpu_deciles = _deciles(wall_gaps), _deciles(cpu_gaps)
    return {
        "trials": sum(summary.states.values()),
        "this_worker_trials": len(stamps),
        "wall_seconds": round(wall, 1),
        "gap_ms_by_decile": wall_deciles,
        "last_over_second": round(wall_deciles[-1] / wall_deciles[1], 2),
        # CPU time of the orchestrator per trial: what a busy shared disk cannot blur
        "cpu_ms_by_decile": cpu_deciles,
        "cpu_last_over_second": round(cpu_deciles[-1] / cpu_deciles[1], 2),
    }


def run_workers(
    config: Path, trials: int, storage: str, tracking: str, workers: int
) -> dict[str, Any]:
    """`workers` dry-run orchestrators on one study, each its own process (as `hpo worker`
    on several machines); each one's gaps by decile, and their mean."""
    command = [sys.executable, __file__, "--join", "--trials", str(trials), "--storage", storage,
               "--tracking", tracking, "--keep", str(config.parent)]  # fmt: skip
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    each = [json.loads(p.communicate()[0]) for p in processes]
    if any(p.returncode for p in processes):
        raise RuntimeError(f"a worker failed: exit codes {[p.returncode for p in processes]}")
    wall = time.perf_counter() - started

    def mean_of(key: str) -> list[float]:
        return [round(statistics.mean(w[key][i] for w in each), 2) for i in range(10)]

    wall_deciles, cpu_deciles = mean_of("gap_ms_by_decile"), mean_of("cpu_ms_by_decile")
    trials = max(w["trials"] for w in each)  # the study's, as the last worker out saw it
    return {
        "workers": workers,
        "trials": trials,
        "trials_by_worker": [w["this_worker_trials"] for w in each],
        "wall_seconds": round(wall, 1),
        "trials_per_second": round(trials / wall, 2),
        "gap_ms_by_decile": wall_deciles,
        "last_over_second": round(wall_deciles[-1] / wall_deciles[1], 2),
        "cpu_ms_by_decile": cpu_deciles,
        "cpu_last_over_second": round(cpu_deciles[-1] / cpu_deciles[1], 2),
        "by_worker": [
            {k: w[k] for k in ("gap_ms_by_decile", "cpu_ms_by_decile", "last_over_second")}
            for w in each
        ],
    }


def _deciles(gaps: list[float]) -> list[float]:
    """Mean milliseconds per trial in each tenth of the study (by trial number)."""
    tenth = max(1, len(gaps) // 10)
    return [
        round(1000 * statistics.mean(gaps[i * tenth : (i + 1) * tenth] or [0.0]), 2)
        for i in range(10)
    ]


def time_reads(config: Path, tracking: str, storage: str | None) -> dict[str, float]:
    """Seconds of each read command, a fresh CLI process each (as a user runs them)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--tracking-uri", tracking]
    commands = {
        "trials": ["trials", "scale", "--study", "scale", *common],
        "trials_all": ["trials", "scale", "--study", "scale", "--limit", "0", *common],
        "best": ["best", "scale", "--study", "scale", *common],
        "report": ["report", "scale", "--study", "scale", "--output", "report", *common],
        "promote": ["promote", "scale", "--study", "scale", "--model-name", "scale-model", *common],
    }
    seconds: dict[str, float] = {}
    for name, args in commands.items():
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hpo.cli", *args],
            cwd=config.parent,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds[name] = round(time.perf_counter() - started, 2)
        # the dry run logs no model: promote reads the ranked pages, then says so (exit 2)
        no_model = name == "promote" and "has a logged model" in done.stderr
        if done.returncode != 0 and not no_model:
            seconds[name] = -1.0  # shown as failed; the line says why
            print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-300:]}", file=sys.stderr)
    return seconds


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", host="127.0.0.1", user="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _server(db: str, artifacts: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}", "--artifacts-destination",
         artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job runner
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("mlflow server did not start")


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--reads", action="store_true", help="time trials/best/report/promote")
    parser.add_argument("--keep", help="build the sweep in this folder and keep it")
    parser.add_argument(
        "--reads-only", action="store_true", help="time the reads of the sweep kept in --keep"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="postgres: orchestrators on the study (hpo worker)"
    )
    # internal: one of --workers, run by this script (the databases and server are the caller's)
    parser.add_argument("--join", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--tracking", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.join:
        config = Path(args.keep) / "scale.yaml"
        os.chdir(config.parent)
        print(json.dumps(run_sweep(config, args.trials, args.storage, args.tracking, joined=True)))
        return
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="hpo-scale-")).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "scale.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    os.chdir(tmp)
    results: dict[str, Any] = {"backend": args.backend}
    server = None
    base = f"hpo_scale_{secrets.token_hex(3)}"
    try:
        if args.backend == "postgres":
            _admin(f'CREATE DATABASE "{base}_ledger"')
            _admin(f'CREATE DATABASE "{base}_mlflow"')
            server, tracking = _server(f"{base}_mlflow", str(tmp / "artifacts"), workers=2)
            storage: str | None = f"{PG}/{base}_ledger"
        else:
            tracking, storage = f"sqlite:///{tmp / 'mlflow.db'}", None
        if not args.reads_only and storage is not None and args.workers > 1:
            results.update(run_workers(config, args.trials, storage, tracking, args.workers))
        elif not args.reads_only:
            results.update(run_sweep(config, args.trials, storage, tracking))
        if args.reads or args.reads_only:
            results["read_seconds"] = time_reads(config, tracking, storage)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            _admin(f'DROP DATABASE IF EXISTS "{base}_ledger" WITH (FORCE)')
            _admin(f'DROP DATABASE IF EXISTS "{base}_mlflow" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
