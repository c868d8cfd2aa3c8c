"""One self-contained HTML page from the Jinja2 template `templates/report.html.j2`: the PNGs
embedded as base64, so it opens anywhere offline (an MLflow artifact view, an e-mail
attachment) without the files beside it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Figure:
    title: str
    path: Path
    caption: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


@cache
def _environment() -> jinja2.Environment:
    """Autoescaping on: study names, parameters and error text are user input."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(__name__.rsplit(".", 1)[0], "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["base64"] = _base64
    return environment


def render(
    title: str,
    summary: Sequence[str],
    warnings: Sequence[str],
    figures: Sequence[Figure],
    tables: Sequence[Table] = (),
    notes: Sequence[str] = (),
) -> str:
    """The whole page as one string (no external CSS, scripts or images)."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            summary=summary,
            warnings=warnings,
            figures=figures,
            tables=tables,
            notes=notes,
        )
    )
