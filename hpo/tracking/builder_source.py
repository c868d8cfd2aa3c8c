"""A builder function's name and source on its sweep run (`hpo.run(builder=...)`).

A function from a notebook cell has no file to point at: its source, logged beside
`config.yaml`, is what tells later readers how the sweep's models were built.
"""

from __future__ import annotations

from hpo.tracking import schema
from hpo.tracking.reads import mlflow_client


def log_builder_source(tracking_uri: str, run_id: str, name: str, source: str) -> None:
    """Tag the sweep run with the function's name and log its source as `builder.py`."""
    client = mlflow_client(tracking_uri)
    client.set_tag(run_id, schema.BUILDER_FUNCTION, name)
    client.log_text(run_id, source, schema.BUILDER_ARTIFACT)
