"""Reads through a running MLflow server's REST API, without importing MLflow.

`hpo ui` waits for the server it started and asks it where the newest sweep is: the
process that only supervises the UI stays small (importing MLflow costs it ~200 MB for
the UI's whole life), and the question is asked of the store the user will browse.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpo.tracking import schema

API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class NewestSweep:
    experiment_id: str
    study: str


def wait_until_up(base: str, *, alive: Callable[[], bool], timeout_s: float = 120.0) -> bool:
    """True once `base` answers its health check; False if `alive()` turns false or time
    runs out (the server failed to start: it said why on stderr)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def newest_sweep(base: str) -> NewestSweep | None:
    """The most recently started sweep run among the server's active experiments."""
    experiments = _post(base, "/experiments/search", {"max_results": 1000}).get("experiments")
    if not experiments:
        return None
    found = _post(
        base,
        "/runs/search",
        {
            "experiment_ids": [e["experiment_id"] for e in experiments],
            "filter": f"tags.`{schema.KIND}` = '{schema.KIND_SWEEP}'",
            "max_results": 1,
            "order_by": ["attributes.start_time DESC"],
        },
    ).get("runs")
    if not found:
        return None
    run = found[0]
    tags = {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}
    return NewestSweep(run["info"]["experiment_id"], tags.get(schema.STUDY, ""))


def _post(base: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}{API}{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        payload: dict[str, Any] = json.loads(reply.read())
    return payload
