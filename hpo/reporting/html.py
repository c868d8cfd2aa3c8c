"""One self-contained HTML page: the PNGs embedded as base64, so it opens anywhere offline
(an MLflow artifact view, an e-mail attachment) without the files beside it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: .4em .8em; margin: .3em 0; }
.ok { color: #2a7a2a; }
table { border-collapse: collapse; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #777; font-size: .9em; }
"""


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
    return escape(str(value))


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return f"<h2>{escape(table.title)}</h2><table><tr>{head}</tr>{body}</table>"


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    caption = f'<p class="note">{escape(figure.caption)}</p>' if figure.caption else ""
    return (
        f"<h2>{escape(figure.title)}</h2>{caption}"
        f'<img alt="{escape(figure.title)}" src="data:image/png;base64,{data}">'
    )


def render(
    title: str,
    summary: Sequence[str],
    warnings: Sequence[str],
    figures: Sequence[Figure],
    tables: Sequence[Table] = (),
    notes: Sequence[str] = (),
) -> str:
    """The whole page as one string (no external CSS, scripts or images)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in summary) + "</ul>",
        "<h2>Warnings</h2>",
    ]
    if warnings:
        parts += [f'<div class="warn">{escape(w)}</div>' for w in warnings]
    else:
        parts.append('<p class="ok">none</p>')
    parts += [_table(t) for t in tables]
    parts += [_figure(f) for f in figures]
    if notes:
        parts.append("<h2>Not drawn</h2><ul>")
        parts += [f'<li class="note">{escape(n)}</li>' for n in notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
