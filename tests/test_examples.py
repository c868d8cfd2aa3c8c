"""Every shipped experiment runs through the real CLI: 1 trial x 1 epoch on small data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXAMPLES = sorted((ROOT / "experiments").glob("*.yaml"))
SMALL = 300  # rows: enough for a stratified split of every example's classes


def _small_copy(example: Path, workdir: Path) -> Path:
    """The example with its search space inlined and at most SMALL rows of data."""
    config = yaml.safe_load(example.read_text())
    space = config["search_space"]
    if isinstance(space, str):
        config["search_space"] = yaml.safe_load((ROOT / space).read_text())
    data = config["data"]
    data["max_samples"] = min(int(data.get("max_samples") or SMALL), SMALL)
    path = workdir / example.name
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_family_has_an_example():
    builders = {yaml.safe_load(p.read_text())["model"]["builder"] for p in EXAMPLES}
    assert builders >= {"mlp", "cnn", "transfer", "rnn", "attention"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_one_trial(example, cli, workdir):
    assert cli("validate", str(example)).returncode == 0  # the shipped file itself
    path = _small_copy(example, workdir)
    done = cli(
        "run", str(path), "--trials", "1", "--epochs", "1", "--json", "--quiet", "--no-report"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["states"] == {"COMPLETE": 1, "PRUNED": 0, "FAIL": 0}, summary
    assert 0 <= summary["best"]["metrics"]["f1"] <= 1
