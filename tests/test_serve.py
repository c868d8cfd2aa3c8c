"""`hpo serve` (MLflow's scoring server on loopback) and `hpo predict` (CSV / NPZ files)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT
from tests.models_helpers import SweepDir, error_line, sweep_dir

pytestmark = pytest.mark.slow
URI = "models:/served@champion"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "serve"):
        folder.run_sweep("s", **{"budget.trials": 2, "budget.epochs": 3})
        done = folder.invoke("promote", "tiny", "--model-name", "served", "--json")
        assert done.exit_code == 0, done.output
        from hpo.config.experiment import Experiment
        from hpo.data.dataset import load_dataset

        raw = yaml.safe_load((folder.path / "exp.yaml").read_text())
        data = load_dataset(Experiment.model_validate(raw).data, raw["seed"])
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(URI)
        rows = np.asarray(data.x_val[:5], dtype=np.float32)
        expected = np.asarray(model.predict(rows))
        yield {"dir": folder, "rows": rows, "expected": expected}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connects(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def _other_local_addresses() -> list[str]:
    """Addresses of this machine other than 127.0.0.1 on which a server bound to all
    interfaces (0.0.0.0) would answer: 127.0.0.2 (Linux routes all of 127/8 to the
    loopback interface), the address an outgoing datagram would leave from, the
    hostname's address. Each is kept only if a control listener on 0.0.0.0 answers there,
    so a refusal at that address is proof of the narrower bind, not of a dead address."""
    candidates = {"127.0.0.2"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, contextlib.suppress(OSError):
        udp.connect(("192.0.2.1", 9))  # sends nothing, picks the outgoing route (if any)
        candidates.add(udp.getsockname()[0])
    with contextlib.suppress(OSError):
        candidates.add(socket.gethostbyname(socket.gethostname()))
    candidates.discard("127.0.0.1")
    candidates.discard("0.0.0.0")
    with socket.socket() as control:
        control.bind(("0.0.0.0", 0))
        control.listen()
        control_port = control.getsockname()[1]
        return sorted(a for a in candidates if _connects(a, control_port))


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_serve_answers_invocations_on_loopback_and_stops(served: dict[str, Any]) -> None:
    folder: SweepDir = served["dir"]
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen(
        [
            sys.executable,
            *("-m", "hpo.cli", "serve", URI),
            *("--port", str(port), "--tracking-uri", folder.uri),
        ],
        cwd=folder.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the server and its uvicorn child
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "the scoring server did not start"
            time.sleep(0.5)
        answer = _post(f"{base}/invocations", {"inputs": served["rows"].tolist()})
        probs = np.asarray(answer["predictions"])
        assert probs.shape == served["expected"].shape == (5, 10)
        np.testing.assert_allclose(probs, served["expected"], atol=1e-5)
        # bound to 127.0.0.1 only: every other address of this machine refuses
        others = _other_local_addresses()
        assert others, "no address other than 127.0.0.1 reaches a listener on 0.0.0.0"
        for address in others:
            assert _connects(address, port) is False, f"the server answers on {address}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the port is released: nothing is left serving
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.5)
    else:
        pytest.fail("the server still answers after it was stopped")


def test_serve_refuses_unknown_alias_and_busy_port(served: dict[str, Any]) -> None:
    folder: SweepDir = served["dir"]
    done = folder.cli("serve", "models:/served@nope", "--port", str(_free_port()))
    assert done.returncode == 2 and "no alias 'nope'" in error_line(done)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = folder.cli("serve", URI, "--port", str(port))
    assert done.returncode == 2 and "in use" in error_line(done)


def test_predict_csv_with_and_without_header(served: dict[str, Any]) -> None:
    folder: SweepDir = served["dir"]
    rows, expected = served["rows"], served["expected"]
    header = ",".join(f"pixel_{i}" for i in range(rows.shape[1]))
    np.savetxt(folder.path / "h.csv", rows, delimiter=",", header=header, comments="")
    np.savetxt(folder.path / "plain.csv", rows, delimiter=",")
    for name in ("h.csv", "plain.csv"):
        result = folder.invoke("predict", URI, str(folder.path / name))
        assert result.exit_code == 0, result.output
        lines = result.stdout.strip().splitlines()
        assert lines[0].split(",")[:3] == ["label", "prob_0", "prob_1"]
        table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
        assert table[:, 0].astype(int).tolist() == expected.argmax(axis=1).tolist()
        np.testing.assert_allclose(table[:, 1:], expected, atol=1e-5)


def test_predict_npz_to_npz_and_csv_files(served: dict[str, Any]) -> None:
    folder: SweepDir = served["dir"]
    rows, expected = served["rows"], served["expected"]
    np.savez(folder.path / "rows.npz", x=rows)
    out = folder.path / "out" / "pred.npz"
    result = folder.invoke("predict", URI, str(folder.path / "rows.npz"), "--output", str(out))
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        assert saved["labels"].tolist() == expected.argmax(axis=1).tolist()
        np.testing.assert_allclose(saved["probabilities"], expected, atol=1e-5)
    out_csv = folder.path / "pred.csv"
    result = folder.invoke("predict", URI, str(folder.path / "rows.npz"), "--output", str(out_csv))
    assert result.exit_code == 0 and len(out_csv.read_text().splitlines()) == 6


def test_predict_bad_input_exits_2(served: dict[str, Any]) -> None:
    folder: SweepDir = served["dir"]
    rows = served["rows"]
    np.savetxt(folder.path / "short.csv", rows[:, :-1], delimiter=",")
    (folder.path / "rows.txt").write_text("1,2\n")
    np.savez(folder.path / "two.npz", a=rows, b=rows)
    cases = [
        ((URI, "short.csv"), "the input has 63 features per row, the model expects 64"),
        (("models:/served@nope", "short.csv"), "no alias 'nope'"),
        (("models:/served/9", "short.csv"), "no version '9'"),
        (("runs:/ffffffffffffffff/model", "short.csv"), "no run"),
        ((URI, "missing.csv"), "file not found"),
        ((URI, "rows.txt"), "must be a .csv or .npz"),
        ((URI, "two.npz"), "name the rows 'x'"),
    ]
    for (uri, name), message in cases:
        result = folder.invoke("predict", uri, str(folder.path / name))
        assert result.exit_code == 2, (name, result.output)
        assert message in error_line(result)
    result = folder.invoke("predict", URI, str(folder.path / "short.csv"), "--output", "p.json")
    assert result.exit_code == 2 and "--output" in error_line(result)
