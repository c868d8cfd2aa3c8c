"""The CLI's shape: one definition per option, one error wrapper, choices from their owners."""

from __future__ import annotations

import json
import os
import typing

import click
import pytest
from click.testing import CliRunner

from hpo.cli import main
from hpo.cli.errors import friendly_errors
from hpo.cli.options import LazyChoice, json_option
from hpo.errors import GateFailed, UserInputError


def _option(command: str, name: str) -> click.Parameter:
    return next(p for p in main.commands[command].params if p.name == name)


def test_tracking_uri_says_the_same_everywhere() -> None:
    helps = {
        getattr(p, "help", None)
        for command in main.commands.values()
        for p in command.params
        if p.name == "tracking_uri"
    }
    assert len(helps) == 1, helps


def test_pruner_choices_are_the_configs_literal() -> None:
    from hpo.config.experiment import StrategyConfig

    literal = typing.get_args(StrategyConfig.model_fields["pruner"].annotation)
    choice = _option("run", "pruner").type
    assert isinstance(choice, click.Choice)
    assert tuple(choice.choices) == literal


def test_export_choices_are_the_export_registry() -> None:
    from hpo.deploy.export import FORMATS, QUANTIZE, REGISTRY

    assert tuple(_option("export", "fmt").type.choices) == FORMATS == tuple(REGISTRY)  # type: ignore[attr-defined]
    assert tuple(_option("export", "quantize").type.choices) == QUANTIZE  # type: ignore[attr-defined]


def test_lazy_choice_loads_only_when_asked() -> None:
    calls: list[int] = []

    def load() -> tuple[str, ...]:
        calls.append(1)
        return ("a", "b")

    choice = LazyChoice(load)
    assert calls == []
    assert choice.convert("a", None, None) == "a"
    with pytest.raises(click.BadParameter, match="'c' is not one of 'a', 'b'"):
        choice.convert("c", None, None)


class _Carrying(GateFailed):
    def __init__(self) -> None:
        super().__init__("parity too poor")
        self.result = self

    def to_json(self) -> dict[str, float]:
        return {"max_abs_diff": 0.5}


def _command(error: Exception, **wrapper: bool) -> click.Command:
    @click.command()
    @json_option()
    @friendly_errors(**wrapper)
    def failing(as_json: bool) -> None:
        raise error

    return failing


def test_an_hpo_error_is_one_line_and_its_exit_code() -> None:
    done = CliRunner().invoke(_command(UserInputError("bad", field="--x")), [])
    assert done.exit_code == 2
    assert done.stderr == "hpo: error: --x: bad\n"
    assert done.stdout == ""


def test_a_failed_gate_still_prints_its_result_under_json() -> None:
    done = CliRunner().invoke(_command(_Carrying()), ["--json"])
    assert done.exit_code == 1
    assert json.loads(done.stdout) == {"max_abs_diff": 0.5}
    assert done.stderr == "hpo: error: parity too poor\n"
    assert CliRunner().invoke(_command(_Carrying()), []).stdout == ""


def test_only_model_commands_quiet_the_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    CliRunner().invoke(_command(UserInputError("bad")), [])
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ  # a sweep's workers set their own level
    CliRunner().invoke(_command(UserInputError("bad"), quiet_libraries=True), [])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"


def test_every_command_is_registered() -> None:
    assert sorted(main.commands) == [
        "best",
        "compare",
        "export",
        "predict",
        "promote",
        "report",
        "run",
        "serve",
        "strategies",
        "trials",
        "ui",
        "validate",
        "worker",
    ]
