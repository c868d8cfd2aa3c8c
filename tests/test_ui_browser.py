"""The MLflow UI shows a sweep and its trials, checked in a real (headless) Chromium.

Uses Debian's `chromium` and `chromium-driver` (CI installs them; no browser is downloaded
from elsewhere). Locally the test skips when they are missing; under CI=true it fails.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from hpo.tracking.schema import EXPERIMENT_KIND, EXPERIMENT_KIND_TRAINING
from tests.ui_helpers import free_port, start_ui, stop_quietly, wait_for_link

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

    experiment = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_experiment_by_name("tiny")
    # hpo marks its experiments as model training (MLflow's own kind tag)
    assert experiment.tags[EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING
    port = free_port()
    ui = start_ui(workdir, port)
    browser = None
    try:
        # `hpo ui` prints the link to the newest sweep's runs, in MLflow's model-training view
        study, link = wait_for_link(ui)
        assert study == "ui-study"
        assert link == (
            f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs"
            "?workflowType=machine_learning"
        )
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
        browser = webdriver.Chrome(service=Service(driver_path), options=options)
        browser.get(link)

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
        text = page_text(browser)
        # the model-training view: runs and the model registry, not the GenAI overview
        # (traces, token usage) or its sidebar (sessions, judges)
        assert "/runs" in browser.current_url and "workflowType=machine_learning" in (
            browser.current_url
        )
        assert "Model registry" in text and "Runs" in text, text[:2000]
        assert "Token Usage" not in text and "Judges" not in text, text[:2000]
        assert "ui-study" in text and "trial-0" in text and "trial-1" in text
        assert summary["sweep_run_id"]
        shot = tmp_path / "mlflow-ui-runs.png"  # for a person to look at; never committed
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        if browser is not None:
            browser.quit()
        stop_quietly(ui)
