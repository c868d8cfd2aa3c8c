"""Scale-out on the real services: several `hpo worker` processes on one study in PostgreSQL,
tracking through a real `mlflow server` backed by PostgreSQL. No mocks.

A fresh database pair (ledger, MLflow) per test run, dropped afterwards. Without PostgreSQL
the tests skip with the reason, except under CI=true, where they fail: CI always runs them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, tiny_experiment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("postgres_exclusive")]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _admin() -> Any:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """(ledger URL, MLflow backend URL): two fresh databases (both use alembic_version)."""
    try:
        conn = _admin()
    except Exception as err:
        reason = f"PostgreSQL at {PG['host']}:{PG['port']} is not reachable: {err}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the scale-out tests must run)")
        pytest.skip(reason)
    base = f"hpo_test_{secrets.token_hex(4)}"
    names = [f"{base}_ledger", f"{base}_mlflow"]
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(  # type: ignore[misc]
            f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}" for name in names
        )
    finally:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving_mlflow(backend: str, artifacts: Path, log_path: Path) -> Iterator[str]:
    """A real `mlflow server` on PostgreSQL with a local artifact root; its URL."""
    port = _free_port()
    log = open(log_path, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            # MLflow 3 reads plain postgresql:// as psycopg 3; this project ships psycopg2
            backend.replace("postgresql://", "postgresql+psycopg2://"),
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # as `hpo ui` does: no job runner (eight huey consumers, ~200 MB and CPU each)
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            assert process.poll() is None, Path(log.name).read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not become healthy"
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def mlflow_server(databases: tuple[str, str], tmp_path_factory: Any) -> Iterator[str]:
    artifacts = tmp_path_factory.mktemp("artifacts")
    log = tmp_path_factory.mktemp("logs") / "mlflow.log"
    with _serving_mlflow(databases[1], artifacts, log) as url:
        yield url


def _config(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment(**changes)))
    return path


def _worker(
    config: Path, study: str, databases: tuple[str, str], server: str, *extra: str
) -> subprocess.Popen[str]:
    """An `hpo worker` in its own process group (kill -9 of the group = a machine lost)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "worker",
            str(config),
            "--study",
            study,
            "--storage",
            databases[0],
            "--tracking-uri",
            server,
            "--threads",
            "1",
            "--heartbeat",
            "1",
            "--grace",
            "3",
            "--json",
            "--quiet",
            *extra,
        ],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 180) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return dict(json.loads(stdout))


def _trials(databases: tuple[str, str], study: str) -> list[Any]:
    """The study's trials, read on a connection closed before returning: an RDBStorage left
    to the garbage collector keeps its pooled connection open, and a test polling every 0.3 s
    ran the server out of its 100 clients in CI."""
    import optuna
    from sqlalchemy.pool import NullPool

    from hpo.urls import with_driver

    storage = optuna.storages.RDBStorage(
        with_driver(databases[0]), engine_kwargs={"poolclass": NullPool}
    )
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials()
    finally:
        storage.engine.dispose()


def _runs(server: str, experiment: str = "tiny") -> tuple[list[Any], list[Any]]:
    from mlflow import MlflowClient

    client = MlflowClient(server)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    sweeps = [r for r in runs if r.data.tags.get("hpo.kind") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("hpo.kind") == "trial"]
    return sweeps, trials


def _of_study(runs: list[Any], study: str) -> list[Any]:
    return [r for r in runs if r.data.tags.get("hpo.study") == study]


def test_three_workers_evaluate_a_grid_exactly_once(databases, mlflow_server, tmp_path):
    config = _config(
        tmp_path,
        **{
            "strategy": {"name": "grid"},
            "search_space.params.units": {"type": "int", "low": 8, "high": 32, "grid_points": 4},
            "budget.trials": 12,
        },
    )
    workers = [_worker(config, "grid3", databases, mlflow_server) for _ in range(3)]
    outputs = [_finish(w) for w in workers]
    assert sum(o["worker_trials"] for o in outputs) == 12
    assert len({o["sweep_run_id"] for o in outputs}) == 1

    trials = _trials(databases, "grid3")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 12 and len(trials) == 12
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 12  # no duplicates

    sweeps, runs = _runs(mlflow_server)
    sweeps, runs = _of_study(sweeps, "grid3"), _of_study(runs, "grid3")
    assert len(sweeps) == 1 and sweeps[0].info.status == "FINISHED"
    assert len(runs) == 12
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {sweeps[0].info.run_id}
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["hpo.worker"] for r in runs}) >= 2  # the work was shared


def _wait_for(predicate: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _running_trial_of(server: str, study: str, pid: int) -> Any:
    try:
        _, runs = _runs(server)
    except Exception:  # the experiment does not exist yet
        return None
    return next(
        (
            r
            for r in _of_study(runs, study)
            if r.info.status == "RUNNING" and r.data.tags.get("hpo.worker", "").endswith(f":{pid}")
        ),
        None,
    )


def test_a_killed_worker_loses_nothing(databases, mlflow_server, tmp_path):
    budget = 8
    config = _config(
        tmp_path,
        **{"budget.trials": budget, "budget.epochs": 6, "data.max_samples": 600},
    )
    victim = _worker(config, "kill1", databases, mlflow_server)
    survivor = _worker(config, "kill1", databases, mlflow_server)

    # kill -9 the victim (and its training process) while one of its trials trains
    def victims_trial() -> Any:
        for process in (victim, survivor):
            assert process.poll() is None, process.communicate()[1][-3000:]
        return _running_trial_of(mlflow_server, "kill1", victim.pid)

    run = _wait_for(victims_trial, "a trial of the victim")
    time.sleep(0.5)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    output = _finish(survivor)

    dead = int(run.data.tags["hpo.trial"])
    trials = {t.number: t for t in _trials(databases, "kill1")}
    assert trials[dead].state.name == "FAIL"
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == dead]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == trials[dead].params
    assert output["states"]["COMPLETE"] == budget  # the budget is still spent in full
    assert not [t for t in trials.values() if t.state.name in ("RUNNING", "WAITING")]

    sweeps, runs = _runs(mlflow_server)
    sweeps, runs = _of_study(sweeps, "kill1"), _of_study(runs, "kill1")
    assert len(sweeps) == 1 and sweeps[0].info.status == "FINISHED"
    assert not [r for r in runs if r.info.status == "RUNNING"]
    ended = next(r for r in runs if r.info.run_id == run.info.run_id)
    assert ended.info.status == "FAILED" and ended.data.tags["hpo.state"] == "FAIL"
    finished = [r for r in runs if r.data.tags.get("hpo.state") == "COMPLETE"]
    assert len(finished) == budget


def test_a_new_worker_resumes_after_the_only_one_died(databases, mlflow_server, tmp_path):
    # trust auth ignores passwords: this one must never reach MLflow, stdout or stderr
    secret = "s3cret-Pw"
    config = _config(
        tmp_path,
        **{
            "budget.trials": 4,
            "budget.epochs": 3,
            "tracking.uri": f"http://someone:{secret}@127.0.0.1:1",  # --tracking-uri wins
        },
    )
    with_password = (
        databases[0].replace("postgres@", f"postgres:{secret}@"),
        databases[1],
    )
    first = _worker(config, "resume1", with_password, mlflow_server)

    def one_done_and_one_running() -> bool:
        try:
            _, runs = _runs(mlflow_server)
        except Exception:
            return False
        runs = _of_study(runs, "resume1")
        return any(r.info.status == "FINISHED" for r in runs) and any(
            r.info.status == "RUNNING" for r in runs
        )

    _wait_for(one_done_and_one_running, "a finished and a running trial")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    (sweep_before,) = _of_study(_runs(mlflow_server)[0], "resume1")

    second = _worker(config, "resume1", with_password, mlflow_server)
    stdout, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr[-3000:]
    assert secret not in stdout + stderr
    output = json.loads(stdout)
    assert output["sweep_run_id"] == sweep_before.info.run_id
    assert output["states"]["COMPLETE"] == 4
    sweeps, runs = _runs(mlflow_server)
    assert [s.info.status for s in _of_study(sweeps, "resume1")] == ["FINISHED"]
    assert not [r for r in _of_study(runs, "resume1") if r.info.status == "RUNNING"]

    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    sweep = client.get_run(sweep_before.info.run_id)
    assert "***" in sweep.data.tags["hpo.storage"]
    for key, value in {**sweep.data.tags, **sweep.data.params}.items():
        assert secret not in value, key
    config_yaml = client.download_artifacts(sweep.info.run_id, "config.yaml", str(tmp_path))
    text = Path(config_yaml).read_text()
    assert secret not in text and "someone:***@" in text


@pytest.mark.slow
def test_the_last_worker_ends_a_run_a_dead_one_left_running(databases, mlflow_server, tmp_path):
    """A worker killed after the ledger took its trial's end, before MLflow did, leaves the
    trial COMPLETE and its run RUNNING; the last worker to finish the sweep ends that run as
    the ledger says (made here by setting a finished run back to RUNNING)."""
    from mlflow import MlflowClient

    config = _config(tmp_path, **{"budget.trials": 1})
    _finish(_worker(config, "orphan", databases, mlflow_server))
    client = MlflowClient(mlflow_server)
    (run,) = _of_study(_runs(mlflow_server)[1], "orphan")
    client.update_run(run.info.run_id, "RUNNING")
    assert (
        _finish(_worker(config, "orphan", databases, mlflow_server, "--trials", "2"))["states"][
            "COMPLETE"
        ]
        == 2
    )
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "FINISHED"
    assert ended.data.metrics["f1"] == pytest.approx(run.data.metrics["f1"])  # the ledger's


# --------------------------------------------------------------------------- database outages


def _wait_for_a_finished_and_a_running_trial(
    worker: subprocess.Popen[str], databases: tuple[str, str], study: str
) -> None:
    def seen() -> bool:
        assert worker.poll() is None, worker.communicate()[1][-3000:]
        try:
            states = [t.state.name for t in _trials(databases, study)]
        except KeyError:  # the study does not exist yet
            return False
        return "COMPLETE" in states and "RUNNING" in states

    _wait_for(seen, "a finished and a running trial")


@pytest.fixture
def proxy() -> Iterator[Any]:
    from tests.tcp_proxy import TcpProxy

    cut = TcpProxy(PG["port"])
    cut.start()
    yield cut
    cut.stop()


def test_the_ledger_rides_out_a_restart_and_gives_up_clearly(databases, proxy):
    from hpo.retry import Backoff
    from hpo.study.ledger import Ledger
    from hpo.study.retry import DatabaseUnavailable

    said: list[str] = []
    url = proxy.url(databases[0]).replace("postgres@", "postgres:pw@")
    ledger = Ledger.open(
        url, "outage0", ["maximize"], backoff=Backoff(patience_s=20), notify=said.append
    )
    ledger.set_attrs({"before": 1})
    proxy.stop()  # live connections reset, new ones refused
    threading.Timer(2.0, proxy.start).start()
    started = time.monotonic()
    assert ledger.attrs()["before"] == 1  # waited for the database, then read it
    assert time.monotonic() - started >= 1.5
    assert any("unreachable" in m for m in said) and any("is back" in m for m in said)
    assert all("pw@" not in m for m in said)

    impatient = Ledger.open(url, "outage0", ["maximize"], backoff=Backoff(patience_s=2))
    proxy.stop()  # now for longer than the patience
    with pytest.raises(DatabaseUnavailable, match=r"unreachable .* gave up after 2 s") as err:
        impatient.trials()
    assert "postgres:***@" in str(err.value) and "pw@" not in str(err.value)


def test_after_an_outage_nobody_is_judged_stale_before_a_grace_period(databases, proxy):
    from hpo.retry import Backoff
    from hpo.study.heartbeat import Heartbeat
    from hpo.study.ledger import Ledger

    ledger = Ledger.open(
        proxy.url(databases[0]),
        "outage-grace",
        ["maximize"],
        heartbeat=Heartbeat(interval_s=1, grace_s=2),
        backoff=Backoff(patience_s=30),
    )
    number = ledger.ask_sampled(_space_of_one())[0]
    ledger.study._storage.record_heartbeat(ledger.trial_id(number))  # then its worker "hangs"
    proxy.stop()
    threading.Timer(3.0, proxy.start).start()
    ledger.trials()  # waits out the outage (longer than the grace)
    # every worker lost its heartbeats in the outage: judging now would fail live trials
    assert ledger.fail_stale() == []
    time.sleep(2.5)  # a grace period after the outage, still no beat: now it is stale
    assert [n for n, _ in ledger.fail_stale()] == [number]


def test_an_ask_cut_off_by_the_outage_does_not_hold_the_budget(databases):
    from hpo.study.heartbeat import Heartbeat
    from hpo.study.ledger import Ledger

    ledger = Ledger.open(
        databases[0], "orphan", ["maximize"], heartbeat=Heartbeat(interval_s=1, grace_s=1)
    )
    orphan = ledger.study.ask().number  # created, then the connection went: never beaten
    live = ledger.ask_sampled(_space_of_one())[0]
    beat = ledger.heartbeat_thread(live)
    beat.start()
    try:
        assert ledger.fail_stale() == []  # younger than the grace period: maybe mid-ask
        time.sleep(1.5)
        ledger.fail_stale()
        states = {t.number: t for t in ledger.trials()}
        assert states[orphan].state == "FAIL" and not states[orphan].counts_toward_budget
        assert "cut off" in (states[orphan].error or "")
        assert states[live].state == "RUNNING"  # beaten: left alone
    finally:
        beat.join()


def _space_of_one() -> Any:
    from hpo.config.space import SearchSpaceSpec, compile_space

    spec = {"params": {"x": {"type": "float", "low": 0.0, "high": 1.0}}}
    return compile_space(SearchSpaceSpec.model_validate(spec))


def test_a_worker_rides_out_a_database_restart(databases, proxy, tmp_path):
    """Ledger and MLflow server both lose PostgreSQL for 8 s in the middle of the sweep."""
    budget = 6
    config = _config(tmp_path, **{"budget.trials": budget, "budget.epochs": 3})
    with _serving_mlflow(
        proxy.url(databases[1]), tmp_path / "artifacts", tmp_path / "mlflow.log"
    ) as server:
        worker = _worker(config, "outage1", (proxy.url(databases[0]), ""), server)

        _wait_for_a_finished_and_a_running_trial(worker, databases, "outage1")
        proxy.stop()
        time.sleep(8)  # longer than the 3 s heartbeat grace: nobody could beat meanwhile
        proxy.start()
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
        assert json.loads(stdout)["states"]["COMPLETE"] == budget

        trials = _trials(databases, "outage1")
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        assert len(complete) == budget
        assert all(t.user_attrs.get("hpo.metrics", {}).get("f1") is not None for t in complete)
        # no live trial was taken for a dead worker's once the database was back
        assert [t.state.name for t in trials] == ["COMPLETE"] * budget
        sweeps, runs = _runs(server)
        sweeps, runs = _of_study(sweeps, "outage1"), _of_study(runs, "outage1")
        assert [s.info.status for s in sweeps] == ["FINISHED"]
        assert not [r for r in runs if r.info.status == "RUNNING"]
        assert len([r for r in runs if r.data.tags.get("hpo.state") == "COMPLETE"]) == budget


def test_a_worker_gives_up_clearly_and_loses_nothing(databases, mlflow_server, proxy, tmp_path):
    budget = 4
    config = _config(tmp_path, **{"budget.trials": budget, "budget.epochs": 4})
    ledger_url = proxy.url(databases[0])
    worker = _worker(config, "outage2", (ledger_url, ""), mlflow_server, "--db-patience", "3")

    _wait_for_a_finished_and_a_running_trial(worker, databases, "outage2")
    proxy.stop()  # and it stays down
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("hpo: error:")]
    assert len(errors) == 1 and "gave up after 3 s" in errors[0], stderr[-3000:]
    assert "resume" in errors[0]
    # nothing half-written counts as complete: every COMPLETE trial has its metrics
    trials = _trials(databases, "outage2")
    for trial in trials:
        if trial.state.name == "COMPLETE":
            assert trial.user_attrs["hpo.metrics"]["f1"] == pytest.approx(trial.value)
    assert any(t.state.name == "RUNNING" for t in trials)  # left to the next worker

    proxy.start()
    resumed = _worker(config, "outage2", (ledger_url, ""), mlflow_server)
    output = _finish(resumed)
    assert output["states"]["COMPLETE"] == budget
    trials = _trials(databases, "outage2")
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    sweeps, runs = _runs(mlflow_server)
    assert [s.info.status for s in _of_study(sweeps, "outage2")] == ["FINISHED"]
    assert not [r for r in _of_study(runs, "outage2") if r.info.status == "RUNNING"]


def _worker_once(config: Path, storage: str) -> subprocess.CompletedProcess[str]:
    """`hpo worker` that is expected to stop at once (refused input)."""
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", "worker", str(config), "--study", "s",
         "--storage", storage],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )  # fmt: skip


def test_worker_refuses_sqlite_and_masks_passwords(tmp_path):
    config = _config(tmp_path)
    done = _worker_once(config, "sqlite:///ledger.db")
    assert done.returncode == 2 and "shared database" in done.stderr
    bad = _worker_once(config, "postgresql://postgres:s3cret@127.0.0.1:1/none")
    assert bad.returncode == 2, bad.stderr
    assert "s3cret" not in bad.stderr + bad.stdout and "***" in bad.stderr


def test_a_bare_postgresql_tracking_uri_reads_the_registry(databases: tuple[str, str]) -> None:
    """`postgresql://` (no driver named) works for the registry too, as for runs and ledger:
    MLflow 3 reads the bare form as psycopg 3, which hpo does not install."""
    from hpo.tracking.registry import Registry
    from hpo.tracking.runs import Tracker

    mlflow_url = databases[1]
    Tracker(mlflow_url).client.search_experiments()  # creates the schema, as a sweep would
    registry = Registry(mlflow_url)
    assert registry.client.search_registered_models() == []
