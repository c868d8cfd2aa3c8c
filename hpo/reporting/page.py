"""What a report collects while it is built: files, warnings, notes, figures and tables.

A picture that cannot be drawn becomes a note (`Page.attempt`), so a report is always written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.reporting.html import Figure, Table


@dataclass
class Report:
    folder: Path
    files: list[str] = field(default_factory=list)  # names inside `folder`
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # pictures not drawn, and why
    seconds: float = 0.0


@dataclass
class Page:
    """What the page collects while the pictures are drawn; a failed picture becomes a note."""

    report: Report
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def attempt(self, what: str, draw: Callable[[], Any]) -> Any:
        try:
            return draw()
        except Exception as err:  # a picture must never cost the whole report
            self.report.notes.append(f"{what}: {type(err).__name__}: {str(err).splitlines()[0:1]}")
            return None

    def add(self, name: str, title: str, caption: str, draw: Callable[[Path], Any]) -> None:
        path = self.report.folder / name
        if self.attempt(title, lambda: draw(path)) is not None:
            self.figures.append(Figure(title, path, caption))
            self.report.files.append(name)

    def note(self, text: str) -> None:
        self.report.notes.append(text)


__all__ = ["Page", "Report"]
