"""A password never leaves hpo: not on stdout or stderr, not in MLflow tags, params or
artifacts, not in an error, not on a child's command line (what `ps` shows every user).

The password has an `@`, a `"` and a blank, raw and percent-encoded. The real sweep and
`hpo ui` use PostgreSQL with trust authentication (the password is sent and ignored), so a
URL with a password works end to end; without PostgreSQL those tests skip, except under
CI=true, where they fail. Also here: errors of MLflow, its database and the network are one
masked line, Ctrl-C is one line and exit 130, and reads leave a deleted experiment deleted.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import pytest
import yaml
from click.testing import CliRunner

from hpo.cli.errors import friendly_errors
from hpo.urls import mask_log_records, mask_secrets, mask_url
from tests.conftest import ROOT, run_cli, tiny_experiment
from tests.ui_helpers import cmdline, descendants, free_port, start_ui, stop_quietly, wait_for_link

# PostgreSQL is shared by the pytest-xdist processes (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("postgres_exclusive")

SECRET = 'p@ss "w d'
ENCODED = quote(SECRET, safe="")  # p%40ss%22w%20d
# any of these in an output is a leak (the whole password, or a telling piece of it)
FRAGMENTS = (SECRET, ENCODED, "p@ss", '"w d', "p%40ss", "%22w%20d")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def leaked(text: str) -> list[str]:
    return [fragment for fragment in FRAGMENTS if fragment in text]


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("bob:x@db postgresql://bob:p@ss@db/x", "bob:x@db postgresql://bob:***@db/x"),
        (f"postgresql://bob:{SECRET}@db:5432/x", "postgresql://bob:***@db:5432/x"),
        (f"postgresql://bob:{ENCODED}@db/x", "postgresql://bob:***@db/x"),
        (
            f"error: cannot open 'postgresql://bob:{SECRET}@db/x': refused",
            "error: cannot open 'postgresql://bob:***@db/x': refused",
        ),
        (f"uri: 'http://alice:{SECRET}@host/'\n", "uri: 'http://alice:***@host/'\n"),
        (
            f"a postgresql://u:{SECRET}@h1/db and mysql://v:{SECRET}@h2/db",
            "a postgresql://u:***@h1/db and mysql://v:***@h2/db",
        ),
        (f"redis://:{ENCODED}@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
        ("host=db password=s3cret dbname=x", "host=db password=*** dbname=x"),
        ("host=db password='a b' dbname=x", "host=db password=*** dbname=x"),
        ("postgresql://bob@db/x?password=s3cret&sslmode=require", None),
        # nothing to mask: left exactly as it was
        ("http://host:5000/api/2.0/x failed", "http://host:5000/api/2.0/x failed"),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
        ("sqlite:///tmp/a:b@c.db", "sqlite:///tmp/a:b@c.db"),
    ],
)
def test_mask_secrets(text: str, masked: str | None) -> None:
    out = mask_secrets(text)
    if masked is not None:
        assert out == masked
    assert not leaked(out) and "s3cret" not in out and "'a b'" not in out


def test_mask_url_masks_the_whole_query_password() -> None:
    assert mask_url("postgresql://bob@db/x?password=a b&x=1") == (
        "postgresql://bob@db/x?password=***&x=1"
    )
    assert mask_url(f"postgresql://bob:{SECRET}@db/x") == "postgresql://bob:***@db/x"


# --------------------------------------------------------------------------- errors


def test_library_log_lines_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """MLflow, urllib3 and SQLAlchemy log the URL they failed on, through their own handlers."""
    mask_log_records()
    logger = logging.getLogger("tests.secrets")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    try:
        logger.warning("retrying %s", f"http://alice:{SECRET}@host/api")
        try:
            raise ConnectionError(f"postgresql://bob:{ENCODED}@db/x refused")
        except ConnectionError:
            logger.exception("lost")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "retrying http://alice:***@host/api" in err
    assert "postgresql://bob:***@db/x refused" in err and "Traceback" in err
    assert not leaked(err)


def test_an_unexpected_error_keeps_its_traceback_masked() -> None:
    """A bug is not hidden behind one line, but its traceback shows no password either."""

    @click.command()
    @friendly_errors()
    def broken() -> None:
        raise RuntimeError(f"cannot use postgresql://bob:{SECRET}@db/x")

    result = CliRunner().invoke(broken, [])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "RuntimeError: cannot use postgresql://bob:***@db/x" in result.stderr
    assert not leaked(result.output + result.stderr)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hpo: error: "), done.stderr
    assert not leaked(done.stdout + done.stderr), done.stderr
    return lines[0]


# MLflow's client retries a refused connection for minutes by default; the message is the same
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


@pytest.mark.parametrize("password", [ENCODED, SECRET], ids=["encoded", "raw"])
def test_an_unreachable_tracking_server_is_one_masked_line(cli, password: str) -> None:
    port = free_port()  # nothing listens there
    uri = f"http://alice:{password}@127.0.0.1:{port}/"
    done = cli("trials", "tiny", "--tracking-uri", uri, env=NO_RETRIES)
    assert done.returncode == 1
    line = _one_error_line(done)
    assert line.startswith(
        f"hpo: error: cannot reach the MLflow tracking server http://alice:***@127.0.0.1:{port}/ "
        "(connection refused; gave up after "
    )
    assert line.endswith("): is it running, and is --tracking-uri right?")


def test_hpo_run_with_an_unreachable_tracking_server_is_one_masked_line(cli, write_config):
    port = free_port()
    uri = f"http://alice:{ENCODED}@127.0.0.1:{port}/"
    config = write_config(**{"tracking.uri": uri})
    done = cli("run", str(config), "--json", env=NO_RETRIES)
    assert done.returncode == 1
    assert "cannot reach the MLflow tracking server http://alice:***@" in _one_error_line(done)
    assert done.stdout == ""


def test_hpo_worker_reads_the_ledger_url_from_hpo_storage(cli, write_config) -> None:
    """`--storage` may come from HPO_STORAGE (off the command line): the worker reads it, and
    refuses it the way it refuses the flag (SQLite is for one `hpo run` only)."""
    config = write_config()
    missing = cli("worker", str(config), "--study", "s")
    assert missing.returncode == 2 and "--storage" in missing.stderr
    done = cli("worker", str(config), "--study", "s", env={"HPO_STORAGE": "sqlite:///ledger.db"})
    assert done.returncode == 2
    assert "shared database ledger" in _one_error_line(done)


def test_what_the_ui_server_prints_is_masked_too(workdir) -> None:
    """MLflow quotes a store URI it cannot use; `hpo ui` passes the server's output through
    the mask (and the server fails at once: nothing is left running)."""
    uri = f"nosuchdb://alice:{SECRET}@127.0.0.1:1/x"
    ui = start_ui(workdir, free_port(), env={"MLFLOW_TRACKING_URI": uri})
    try:
        assert ui.process.wait(timeout=120) == 1
    finally:
        stop_quietly(ui)
    assert "unsupported URI 'nosuchdb://alice:***@127.0.0.1:1/x'" in ui.stderr, ui.stderr
    assert not leaked(ui.stderr)


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlflow.db with experiment `tiny` and one finished sweep run, written by hpo's own
    writer; built once (MLflow's migrations take seconds), copied by each test."""
    from hpo.tracking.runs import Tracker

    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}")
    experiment_id = tracker.experiment_id("tiny")
    assert experiment_id is not None
    run_id = tracker.start_sweep(experiment_id, "s", {}, "name: tiny\n", None)
    tracker.end_sweep(run_id, "FINISHED")
    return db


@pytest.fixture
def store(workdir: Path, store_template: Path) -> str:
    shutil.copy(store_template, workdir / "mlflow.db")
    return f"sqlite:///{workdir / 'mlflow.db'}"


def test_a_locked_mlflow_database_is_one_line(cli, workdir, store):
    lock = sqlite3.connect(workdir / "mlflow.db", isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        done = cli("trials", "tiny")
    finally:
        lock.close()
    assert done.returncode == 1
    assert "database is locked" in _one_error_line(done)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A port that accepts connections and never answers: a command waits on it for ever."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield sock.getsockname()[1], accepted
    finally:
        sock.close()
        for conn in held:
            conn.close()


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(workdir, silent_server) -> None:
    port, accepted = silent_server
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    uri = f"http://alice:{ENCODED}@127.0.0.1:{port}/"
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "trials", "tiny", "--tracking-uri", uri],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert accepted.wait(timeout=60), "hpo trials never reached the server"
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stderr == "hpo: interrupted\n" and stdout == ""


# --------------------------------------------------------------------------- reads


def test_reads_leave_a_deleted_experiment_deleted(cli, store) -> None:
    from hpo.tracking.reads import mlflow_client

    client = mlflow_client(store)
    experiment_id = client.get_experiment_by_name("tiny").experiment_id
    assert cli("trials", "tiny").returncode == 0  # readable before the user deletes it
    client.delete_experiment(experiment_id)

    for command in (("trials", "tiny"), ("best", "tiny", "--json")):
        done = cli(*command)
        assert done.returncode == 2, done.stderr
        assert "no experiment named 'tiny'" in _one_error_line(done)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"


# --------------------------------------------------------------------------- a real sweep


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """(ledger, MLflow) database names, fresh, dropped afterwards."""
    try:
        import psycopg2

        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except Exception as err:
        reason = f"PostgreSQL at {PG['host']}:{PG['port']} is not reachable: {err}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: this test must run)")
        pytest.skip(reason)
    admin.autocommit = True
    base = f"hpo_secrets_{secrets.token_hex(4)}"
    names = (f"{base}_ledger", f"{base}_mlflow")
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield names
    finally:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _url(database: str) -> str:
    """With a password: PostgreSQL's trust authentication ignores it, so it works."""
    return f"postgresql://{PG['user']}:{ENCODED}@{PG['host']}:{PG['port']}/{database}"


def _masked(database: str) -> str:
    return f"postgresql://{PG['user']}:***@{PG['host']}:{PG['port']}/{database}"


@pytest.mark.slow
def test_a_sweep_and_hpo_ui_with_passwords_in_their_urls_leak_none(workdir, pg_databases):
    ledger_db, mlflow_db = pg_databases
    config = workdir / "exp.yaml"
    config.write_text(yaml.safe_dump(tiny_experiment(**{"tracking.uri": _url(mlflow_db)})))

    # the ledger URL from HPO_STORAGE, the tracking URI from the config: no password in argv
    done = run_cli(
        "run", str(config), "--study", "pw", "--json", cwd=workdir,
        env={"HPO_STORAGE": _url(ledger_db)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert not leaked(done.stdout + done.stderr)
    assert not (workdir / "hpo-ledger.journal").exists()
    _assert_study_in(ledger_db, "pw")
    _assert_mlflow_holds_no_password(mlflow_db, ledger_db)

    read = run_cli("trials", "tiny", "--tracking-uri", _url(mlflow_db), cwd=workdir)
    assert read.returncode == 0 and "trial" in read.stdout, read.stderr
    assert not leaked(read.stdout + read.stderr)

    ui = start_ui(workdir, free_port(), env={"MLFLOW_TRACKING_URI": _url(mlflow_db)})
    tree: set[int] = set()
    try:
        study, _ = wait_for_link(ui)
        assert study == "pw"
        tree = descendants(ui.process.pid)
        assert len(tree) >= 2
        for pid in tree:  # the store URI reaches the server through its environment only
            assert not leaked(cmdline(pid)) and mlflow_db not in cmdline(pid), cmdline(pid)
        assert f"MLflow UI for {_masked(mlflow_db)}" in ui.stderr
        assert not leaked(ui.stderr)
        ui.process.send_signal(signal.SIGTERM)
        assert ui.process.wait(timeout=15) == 130
    finally:
        stop_quietly(ui, tree)


def _assert_study_in(ledger_db: str, study: str) -> None:
    import optuna

    from hpo.urls import with_driver

    summaries = optuna.get_all_study_summaries(with_driver(_url(ledger_db)))
    assert [s.study_name for s in summaries] == [study]


def _assert_mlflow_holds_no_password(mlflow_db: str, ledger_db: str) -> None:
    """Every tag and param of every run, and the sweep's config.yaml."""
    from hpo.tracking import schema
    from hpo.tracking.reads import RunReads, mlflow_client

    client = mlflow_client(_url(mlflow_db))
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # the sweep and its two trials
    for run in runs:
        written: dict[str, Any] = {**run.data.tags, **run.data.params}
        assert not leaked(repr(written)), written
    (sweep,) = [r for r in runs if r.data.tags.get(schema.KIND) == schema.KIND_SWEEP]
    assert sweep.data.tags[schema.STORAGE] == _masked(ledger_db)
    config_yaml = RunReads(client).read_text(sweep.info.run_id, schema.CONFIG_ARTIFACT)
    assert _masked(mlflow_db) in config_yaml and not leaked(config_yaml), config_yaml
