"""The MLflow UI shows a sweep and its trials, checked in a real (headless) Chromium.

Uses Debian's `chromium` and `chromium-driver` (CI installs them; no browser is downloaded
from elsewhere). Locally the test skips when they are missing; under CI=true it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
)


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    why = "Debian packages chromium and chromium-driver are not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI must install them: see .ci/run)")
    pytest.skip(f"{why} (apt-get install -y chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"hpo ui exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"hpo ui did not answer at {url} within {timeout} s")


def test_mlflow_ui_shows_the_sweep_and_its_trials(cli, write_config, workdir, tmp_path):
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    config = write_config(**{"budget.trials": 2})
    done = cli("run", str(config), "--study", "ui-study", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)

    from mlflow import MlflowClient

    experiment_id = (
        MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
        .get_experiment_by_name("tiny")
        .experiment_id
    )
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "ui", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    browser = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/", server)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
        browser = webdriver.Chrome(service=Service(driver_path), options=options)
        # MLflow 3 opens an experiment on its GenAI overview; the runs table is the /runs tab
        browser.get(f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs")

        def page_text(_: object) -> str:
            return str(browser.execute_script("return document.body.innerText") or "")

        # the UI is a React app: wait for the sweep run (named after the study) to render
        WebDriverWait(browser, 60, poll_frequency=0.5).until(lambda b: "ui-study" in page_text(b))
        if "trial-0" not in page_text(browser):
            # child runs are nested under the sweep run: expand it
            browser.execute_script(
                "for (const row of document.querySelectorAll('[role=row]')) {"
                "  if (!row.innerText.includes('ui-study')) continue;"
                "  const b = row.querySelector('button[data-component-id*=runnamecellrenderer]');"
                "  if (b) { b.click(); break; } }"
            )
        WebDriverWait(browser, 30, poll_frequency=0.5).until(
            lambda b: "trial-0" in page_text(b) and "trial-1" in page_text(b)
        )
        shot = tmp_path / "mlflow-ui-experiment.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        text = page_text(browser)
        assert "ui-study" in text and "trial-0" in text and "trial-1" in text
        assert summary["sweep_run_id"]
    finally:
        if browser is not None:
            browser.quit()
        os.killpg(server.pid, 15)  # the ui command and the mlflow server it started
        server.wait(timeout=30)
