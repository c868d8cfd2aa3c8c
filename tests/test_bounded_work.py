"""Tiny configs never exhaust memory or CPU (issue 12, item 6): conditions are checked with
arithmetic, a grid is sized without walking it, YAML aliases cannot expand a small file into
a huge document, and search-space bounds must be finite numbers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo.config.space import SearchSpaceSpec, compile_space
from hpo.search.grid import enumerate_grid, grid_size
from tests.conftest import ROOT, tiny_experiment
from tests.test_bad_input import _assert_clean_failure

HUGE = 10_000_000_000  # 1e10: `list(range(...))` of it was a MemoryError


def _with_params(**params: object) -> dict:
    config = tiny_experiment()
    config["search_space"]["params"].update(params)
    return config


def _layered_grid(config: dict) -> dict:
    """Up to 6 layers of 57 unit values each: 57 + 57**4 + 57**6 grid candidates."""
    config["search_space"] = {"params": {"batch_size": 64, "learning_rate": 0.01}}
    config["search_space"]["layers"] = {
        "n_layers": {
            "count": {"low": 1, "high": 6},
            "per_layer": {"units": {"type": "int", "low": 8, "high": 64, "grid_points": 100}},
        }
    }
    return config


def test_condition_on_a_huge_int_range_is_checked_by_arithmetic(cli, write_config, workdir):
    path = write_config(
        _with_params(
            n_layers={"type": "int", "low": 1, "high": HUGE},
            dropout={"type": "float", "low": 0.0, "high": 0.5, "when": {"n_layers": [2, HUGE]}},
        )
    )
    started = time.perf_counter()
    done = cli("validate", str(path), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "dropout" in done.stdout and "conditional" in done.stdout
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize(("value", "why"), [(HUGE + 1, "above high"), (7.5, "not a whole number")])
def test_condition_value_outside_a_huge_range_is_refused(cli, write_config, workdir, value, why):
    path = write_config(
        _with_params(
            n_layers={"type": "int", "low": 1, "high": HUGE, "step": 2},
            dropout={"type": "float", "low": 0.0, "high": 0.5, "when": {"n_layers": value}},
        )
    )
    _assert_clean_failure(
        cli("validate", str(path), timeout=60),
        workdir,
        "exp.yaml",
        "search_space",
        f"'when' value {value!r} is not a value of 'n_layers'",
    )


# 12 parameters x 10 grid values: 10^12 candidates
TERA_GRID = {f"p{i}": {"type": "int", "low": 0, "high": 1000, "grid_points": 10} for i in range(12)}


def test_a_tera_grid_is_sized_in_well_under_a_second() -> None:
    """In a fresh process with a deadline: walking the grid (the old way) would take days."""
    code = (
        "import json, time\n"
        "from hpo.config.space import SearchSpaceSpec, compile_space\n"
        "from hpo.search.grid import GridOptions, GridStrategy\n"
        f"space = compile_space(SearchSpaceSpec.model_validate({{'params': {TERA_GRID!r}}}))\n"
        "started = time.perf_counter()\n"
        "size = GridStrategy.size_of(space, GridOptions())\n"
        "print(json.dumps([size, time.perf_counter() - started]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    size, seconds = json.loads(done.stdout)
    assert size == 10**12
    assert seconds < 1.0


def test_validate_states_the_grid_size_and_the_budget_cut(cli, write_config, workdir) -> None:
    config = _layered_grid(tiny_experiment(**{"strategy.name": "grid"}))
    path = write_config(config)
    done = cli("validate", str(path), timeout=60)
    assert done.returncode == 0, done.stderr
    # n_layers is discretised to 3 values (1, 4, 6); 100 points on 8..64 round to 57 units
    expected = 57 + 57**4 + 57**6
    assert f"search size  {expected} candidates (the budget runs the first 2)" in done.stdout


@pytest.mark.parametrize(
    "spec",
    [
        {
            "params": {
                "opt": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
                "momentum": {"type": "float", "low": 0, "high": 0.9, "when": {"opt": "sgd"}},
                "depth": {"type": "int", "low": 1, "high": 5, "grid_points": 5},
                "width": {"type": "int", "low": 1, "high": 9, "when": {"depth": [2, 3]}},
                "gate": {"type": "float", "low": 0, "high": 1, "when": {"width": [1, 5]}},
                "fixed": 64,
            }
        },
        {
            "layers": {
                "n": {
                    "count": {"low": 0, "high": 4},
                    "per_layer": {
                        "units": {"type": "int", "low": 8, "high": 64},
                        "drop": {"type": "float", "low": 0, "high": 0.5, "grid_points": 2},
                    },
                }
            },
            "params": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        },
    ],
)
@pytest.mark.parametrize("points", [1, 2, 3])
def test_grid_size_counts_what_the_enumeration_yields(spec: dict, points: int) -> None:
    space = compile_space(SearchSpaceSpec.model_validate(spec))
    assert grid_size(space, points) == sum(1 for _ in enumerate_grid(space, points))


# 590 bytes that safe_load turns into 9^9 (387 million) references to "x"
ALIAS_BOMB = """\
name: bomb
data: {source: digits, max_samples: 300}
model: {builder: mlp}
search_space:
  params:
    learning_rate: 0.01
    units: {type: int, low: 8, high: 32}
budget: {trials: 1, epochs: 1}
strategy:
  name: random
  options:
    a: &a ["x","x","x","x","x","x","x","x","x"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("command", [["validate"], ["run", "--trials", "1"]])
def test_an_alias_bomb_is_refused_at_once(cli, workdir: Path, command: list[str]) -> None:
    (workdir / "bomb.yaml").write_text(ALIAS_BOMB)
    started = time.perf_counter()
    done = cli(command[0], "bomb.yaml", *command[1:], timeout=30)
    _assert_clean_failure(done, workdir, "bomb.yaml", "invalid YAML", "aliases expand")
    assert time.perf_counter() - started < 15


def test_a_self_referencing_alias_is_refused(cli, workdir: Path) -> None:
    text = ALIAS_BOMB.split("    a: &a")[0] + "    loop: &loop [1, *loop]\n"
    (workdir / "loop.yaml").write_text(text)
    _assert_clean_failure(
        cli("validate", "loop.yaml", timeout=30), workdir, "loop.yaml", "invalid YAML", "alias"
    )


def test_ordinary_aliases_still_work(cli, workdir: Path) -> None:
    """Sharing a spec with an anchor is fine: only expansion beyond the limit is refused."""
    (workdir / "shared.yaml").write_text(
        "name: shared\n"
        "data: {source: digits, max_samples: 300}\n"
        "model: {builder: mlp}\n"
        "search_space:\n"
        "  params:\n"
        "    learning_rate: &rate {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"
        "    weight_decay: *rate\n"
        "    optimizer: adamw\n"
        "budget: {trials: 1, epochs: 1}\n"
    )
    done = cli("validate", "shared.yaml", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "weight_decay" in done.stdout


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ({"type": "float", "low": float("nan"), "high": 1.0}, "low"),
        ({"type": "float", "low": 0.0, "high": float("inf")}, "high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": float("nan")}, "step"),
        ({"type": "float", "low": 0.0, "high": 1.0, "values": [0.5, float("inf")]}, "values"),
        ({"type": "int", "low": 8, "high": float("inf")}, "high"),
        ({"type": "categorical", "choices": [0.1, float("nan")]}, "choices"),
        ({"type": "fixed", "value": float("-inf")}, "value"),
    ],
)
def test_non_finite_search_space_values_are_refused(cli, write_config, workdir, param, field):
    path = write_config(_with_params(dropout=param))
    assert ".nan" in path.read_text() or ".inf" in path.read_text()
    _assert_clean_failure(
        cli("validate", str(path), timeout=60),
        workdir,
        "exp.yaml",
        "search_space.params.dropout",
        field,
        "finite",
    )


def test_compare_refuses_a_grid_it_would_run_in_full_for_days(cli, write_config, workdir):
    """`hpo compare` runs a grid in full: a 57**6-candidate grid is refused before anything is
    written (no MLflow store, no ledger), not started."""
    config = _layered_grid(tiny_experiment())
    path = write_config(config)
    started = time.perf_counter()
    done = cli("compare", str(path), "--strategies", "random,grid", "--trials", "2", timeout=60)
    assert time.perf_counter() - started < 30
    _assert_clean_failure(
        done, workdir, f"grid has {57 + 57**4 + 57**6} candidates", "(at most 10000)"
    )
