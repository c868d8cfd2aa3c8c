"""What commands print beside their result: JSON on stdout, warning and note lines on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from hpo.urls import mask_secrets


def echo_json(payload: Any) -> None:
    """One line of JSON on stdout (values JSON cannot hold, such as datetimes, as text)."""
    click.echo(json.dumps(payload, indent=None, default=str))


def echo_result(result: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """A command's result on stdout: its `to_json()` under `--json`, else as text."""
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(text(result))


def warn(message: str) -> None:
    """A warning line on stderr; a URL in it is shown with its password masked."""
    click.echo(f"hpo: warning: {mask_secrets(message)}", err=True)


def note(message: str) -> None:
    click.echo(f"hpo: note: {mask_secrets(message)}", err=True)
