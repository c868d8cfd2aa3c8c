"""`python -m hpo.cli` runs the command line (tests and benchmarks start it this way)."""

from hpo.cli.main import run

run()
