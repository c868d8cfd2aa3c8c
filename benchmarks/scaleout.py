"""Scale-out benchmark: trials per minute with 2 `hpo worker`s vs 1 on one study, and the
ledger + tracking cost per trial on PostgreSQL + `mlflow server` vs the embedded default.

Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth). Creates and drops its own
databases and starts its own `mlflow server`. The machine may be shared: both sides of each
comparison run back to back, and the ratios are what to compare.

    .venv/bin/python benchmarks/scaleout.py [--trials 16] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = "postgresql://postgres@127.0.0.1:5432"


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", host="127.0.0.1", user="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _server(db: str, artifacts: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}", "--artifacts-destination",
         artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
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


def _throughput(
    config: Path,
    study: str,
    workers: int,
    ledger: str,
    server: str,
    threads: int | None = None,
    pinned: bool = False,
) -> float:
    """Trials per minute between the first trial's start and the last trial's end (the
    TensorFlow start-up of the workers is not counted). Threads: cores / workers unless
    given. `pinned`: worker i (orchestrator and training process) runs on core i only,
    as if each worker had a one-core machine of its own."""
    from mlflow import MlflowClient

    threads = str(threads or max(1, (os.cpu_count() or 1) // workers))
    command = [sys.executable, "-m", "hpo.cli", "worker", str(config), "--study", study,
               "--storage", ledger, "--tracking-uri", server, "--threads", threads, "--quiet",
               "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            (["taskset", "-c", str(i)] if pinned else []) + command,
            cwd=config.parent,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        for i in range(workers)
    ]
    for proc in procs:
        assert proc.wait() == 0
    client = MlflowClient(server)
    exp = client.get_experiment_by_name("scaleout")
    runs = [
        r
        for r in client.search_runs([exp.experiment_id], max_results=1000)
        if r.data.tags.get("hpo.study") == study and r.data.tags.get("hpo.kind") == "trial"
    ]
    span = max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)
    return len(runs) / (span / 60000)


def _bookkeeping(storage: str | None, tracking: str, n: int = 30) -> float:
    """Seconds per trial of ledger + tracking work alone (ask, run, tell, log), no training."""
    from hpo.study.heartbeat import Heartbeat
    from hpo.study.ledger import Ledger
    from hpo.tracking.runs import Tracker

    ledger = Ledger.open(storage, f"book-{secrets.token_hex(3)}", ["maximize"],
                         heartbeat=Heartbeat())  # fmt: skip
    tracker = Tracker(tracking)
    exp_id = tracker.experiment_id("bookkeeping")
    assert exp_id is not None
    sweep = tracker.start_sweep(exp_id, ledger.name, {}, "x: 1\n", None)
    started = time.perf_counter()
    for _ in range(n):
        with ledger.claim():
            ledger.trials()
            trial = ledger.study.ask()
            params = {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
        run_id = tracker.start_trial(exp_id, sweep, trial.number, params, {})
        ledger.set_run_id(trial.number, run_id)
        ledger.finish(trial.number, "COMPLETE", [0.9], metrics={"f1": 0.9})
        tracker.finish_trial(run_id, "COMPLETE", metrics={"f1": 0.9}, history={"loss": [1.0]})
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    base = f"hpo_bench_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{base}_ledger"')
    _admin(f'CREATE DATABASE "{base}_mlflow"')
    tmp = Path(tempfile.mkdtemp(prefix="hpo-scaleout-"))
    process, server = _server(f"{base}_mlflow", str(tmp / "artifacts"))
    results: dict[str, Any] = {}
    try:
        config = tmp / "digits.yaml"
        config.write_text(yaml.safe_dump({
            "name": "scaleout", "seed": 1, "data": {"source": "digits"},
            "model": {"builder": "mlp"},
            "search_space": {"params": {
                "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                "units": {"type": "int", "low": 32, "high": 128}, "batch_size": 32}},
            "strategy": {"name": "random"},
            "budget": {"trials": args.trials, "epochs": args.epochs},
            "tracking": {"log_models": False},
        }))  # fmt: skip
        ledger = f"{PG}/{base}_ledger"
        one = _throughput(config, "one", 1, ledger, server)
        one_core = _throughput(config, "one-core", 1, ledger, server, threads=1)
        two = _throughput(config, "two", 2, ledger, server)
        results["trials_per_minute_1_worker"] = round(one, 1)
        results["trials_per_minute_1_worker_1_thread"] = round(one_core, 1)
        results["trials_per_minute_2_workers"] = round(two, 1)
        # a second worker on the same machine (the first had every core)
        results["speed_up"] = round(two / one, 2)
        # per-worker scaling with equal resources: one core each (as two machines would)
        results["speed_up_per_core"] = round(two / one_core, 2)
        one_pinned = _throughput(config, "one-pinned", 1, ledger, server, 1, pinned=True)
        two_pinned = _throughput(config, "two-pinned", 2, ledger, server, 1, pinned=True)
        results["trials_per_minute_1_worker_on_1_core"] = round(one_pinned, 1)
        results["trials_per_minute_2_workers_on_1_core_each"] = round(two_pinned, 1)
        results["speed_up_pinned"] = round(two_pinned / one_pinned, 2)
        os.chdir(tmp)
        embedded = _bookkeeping(None, f"sqlite:///{tmp / 'mlflow.db'}")
        shared = _bookkeeping(ledger, server)
        results["bookkeeping_ms_embedded"] = round(embedded * 1000, 1)
        results["bookkeeping_ms_postgres_server"] = round(shared * 1000, 1)
        results["bookkeeping_ratio"] = round(shared / embedded, 2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        _admin(f'DROP DATABASE IF EXISTS "{base}_ledger" WITH (FORCE)')
        _admin(f'DROP DATABASE IF EXISTS "{base}_mlflow" WITH (FORCE)')
    for key, value in results.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
