"""Interface: the `hpo` command line (thin: parse, call the library, print)."""

from hpo.cli.main import main

__all__ = ["main"]
