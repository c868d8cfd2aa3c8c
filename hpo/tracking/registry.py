"""The MLflow model registry and model loading (with hpo/tracking.py, the only mlflow user).

Promotion, export, serving and prediction all start from a model URI; this module turns a
URI into a run (for lineage), loads the model, and writes registry entries. Unknown models,
versions, aliases and runs become one-line `UserInputError`s (exit 2) before anything is
written, so a typo never leaves the registry half-changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException

from hpo.errors import UserInputError, first_line
from hpo.tracking.runs import MODEL_ARTIFACT, resolve_tracking_uri

CARD_DIR = "model_card"
CARD_FILE = "model_card.md"
CONFUSION_FILE = "confusion_matrix.png"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,255}$")


@dataclass(frozen=True)
class ModelRef:
    """What a model URI points at: its run (when it has one) and registry coordinates."""

    uri: str
    run_id: str | None
    name: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class RunLineage:
    """A trial run and the sweep run above it: where its config and data fingerprint live."""

    run_id: str
    experiment: str
    trial: int
    params: dict[str, str]
    metrics: dict[str, float]
    trial_tags: dict[str, str]
    sweep_run_id: str
    sweep_tags: dict[str, str]
    config_yaml: str


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str


def check_model_name(name: str) -> str:
    """Registry names go into URIs (`models:/NAME@ALIAS`): refuse `/`, `@`, `:` early."""
    if not _NAME.match(name):
        raise UserInputError(
            f"invalid model name {name!r}: use letters, digits, '-', '_', '.' or spaces",
            field="--model-name",
        )
    return name


def check_alias(alias: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,255}", alias) or re.fullmatch(
        r"[vV]\d+", alias
    ):
        raise UserInputError(
            f"invalid alias {alias!r}: letters, digits, '_' and '-', not 'v<number>'",
            field="--alias",
        )
    return alias


def _missing(err: MlflowException) -> bool:
    return getattr(err, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class Registry:
    """Registry reads and writes on one tracking URI (also the registry URI: one database)."""

    def __init__(self, tracking_uri: str | None):
        import mlflow

        self.uri = resolve_tracking_uri(tracking_uri, None)
        if self.uri.startswith("sqlite:///"):
            db = Path(self.uri.removeprefix("sqlite:///"))
            if not db.exists():  # never create an empty database just to say it is empty
                raise UserInputError(
                    f"no MLflow database at {db} (run `hpo run` first, or pass --tracking-uri)"
                )
        # the fluent loaders (pyfunc, keras, artifacts) read the global URIs
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # ------------------------------------------------------------------ resolving URIs

    def resolve(self, uri: str) -> ModelRef:
        """Check that a model URI exists; `models:/NAME@ALIAS`, `models:/NAME/VERSION`,
        `models:/NAME` (latest version), `runs:/RUN_ID/PATH` or a local MLflow model folder."""
        if uri.startswith("models:/"):
            return self._resolve_registered(uri)
        if uri.startswith("runs:/"):
            parts = uri.removeprefix("runs:/").strip("/").split("/", 1)
            run_id = parts[0]
            try:
                self.client.get_run(run_id)
            except MlflowException as err:
                if _missing(err):
                    raise UserInputError(f"no run {run_id!r} at {self.uri}", field=uri) from None
                raise
            path = parts[1] if len(parts) > 1 else MODEL_ARTIFACT
            names = [a.path for a in self.client.list_artifacts(run_id, path)]
            if f"{path}/MLmodel" not in names and "MLmodel" not in names:
                raise UserInputError(f"run {run_id} has no MLflow model at {path!r}", field=uri)
            return ModelRef(uri, run_id)
        local = Path(uri.removeprefix("file://"))
        if (local / "MLmodel").is_file():
            return ModelRef(str(local), None)
        raise UserInputError(
            "not a model URI: use models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model "
            "or a folder holding an MLmodel file",
            field=uri,
        )

    def _resolve_registered(self, uri: str) -> ModelRef:
        rest = uri.removeprefix("models:/").strip("/")
        try:
            if "@" in rest:
                name, alias = rest.split("@", 1)
                self._registered_model(name, uri)
                try:
                    mv = self.client.get_model_version_by_alias(name, alias)
                except MlflowException as err:
                    if _missing(err):
                        raise UserInputError(
                            f"model {name!r} has no alias {alias!r}", field=uri
                        ) from None
                    raise
            elif "/" in rest:
                name, version = rest.split("/", 1)
                self._registered_model(name, uri)
                try:
                    mv = self.client.get_model_version(name, version)
                except MlflowException as err:
                    if _missing(err):
                        raise UserInputError(
                            f"model {name!r} has no version {version!r}", field=uri
                        ) from None
                    raise
            else:
                name = rest
                self._registered_model(name, uri)
                versions = self.client.search_model_versions(f"name='{_quote(name)}'")
                if not versions:
                    raise UserInputError(f"model {name!r} has no versions", field=uri)
                mv = max(versions, key=lambda v: int(v.version))
        except MlflowException as err:
            raise UserInputError(first_line(err), field=uri) from None
        return ModelRef(uri, mv.run_id or None, name=name, version=str(mv.version))

    def _registered_model(self, name: str, uri: str) -> None:
        try:
            self.client.get_registered_model(name)
        except MlflowException as err:
            if _missing(err):
                raise UserInputError(
                    f"no registered model {name!r} at {self.uri}", field=uri
                ) from None
            raise

    # ------------------------------------------------------------------ lineage

    def lineage(self, run_id: str) -> RunLineage:
        """The trial run and its sweep: needed to rebuild the exact data split."""
        run = self.client.get_run(run_id)
        tags = dict(run.data.tags)
        if tags.get("hpo.kind") != "trial" or "mlflow.parentRunId" not in tags:
            raise UserInputError(
                "the model's run is not an hpo trial run: cannot find its data split",
                field=f"run {run_id}",
            )
        sweep = self.client.get_run(tags["mlflow.parentRunId"])
        experiment = self.client.get_experiment(run.info.experiment_id)
        try:
            config_yaml = self.read_text(sweep.info.run_id, "config.yaml")
        except MlflowException:
            raise UserInputError(
                "the sweep run has no config.yaml artifact", field=f"run {sweep.info.run_id}"
            ) from None
        return RunLineage(
            run_id=run_id,
            experiment=experiment.name,
            trial=int(tags.get("hpo.trial", -1)),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            trial_tags=tags,
            sweep_run_id=sweep.info.run_id,
            sweep_tags=dict(sweep.data.tags),
            config_yaml=config_yaml,
        )

    def read_text(self, run_id: str, path: str) -> str:
        import os
        import tempfile

        # a bar for one small file is noise on the stderr of `hpo best` and friends
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")

    # ------------------------------------------------------------------ loading

    def load_keras(self, uri: str) -> Any:
        """The Keras model itself (export and evaluation need layers, not a pyfunc)."""
        import mlflow.keras

        try:
            return mlflow.keras.load_model(uri)
        except MlflowException as err:
            raise UserInputError(
                f"cannot load a Keras model: {first_line(err)}", field=uri
            ) from None

    def load_pyfunc(self, uri: str) -> Any:
        """The pyfunc model: the same object MLflow's scoring server calls."""
        import mlflow.pyfunc

        try:
            return mlflow.pyfunc.load_model(uri)
        except MlflowException as err:
            raise UserInputError(f"cannot load the model: {first_line(err)}", field=uri) from None

    # ------------------------------------------------------------------ run writes

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
        )

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_card(self, run_id: str, folder: str) -> str:
        """Upload the model card folder to the trial run; returns the card's artifact URI."""
        self.client.log_artifacts(run_id, folder, CARD_DIR)
        return f"runs:/{run_id}/{CARD_DIR}/{CARD_FILE}"

    def run_metric(self, run_id: str, key: str) -> float | None:
        try:
            value = self.client.get_run(run_id).data.metrics.get(key)
        except MlflowException:
            return None
        return None if value is None else float(value)

    # ------------------------------------------------------------------ registry writes

    def versions_of_run(self, name: str, run_id: str) -> list[VersionInfo]:
        try:
            found = self.client.search_model_versions(
                f"name='{_quote(name)}' and run_id='{_quote(run_id)}'"
            )
        except MlflowException as err:
            if _missing(err):
                return []
            raise
        return sorted(
            (VersionInfo(str(v.version), v.run_id or "") for v in found),
            key=lambda v: int(v.version),
        )

    def register(
        self, name: str, run_id: str, *, tags: Mapping[str, str], description: str
    ) -> tuple[str, bool]:
        """The version holding this run's model: the existing one if the run was promoted
        before (idempotent), else a new one. Returns (version, created)."""
        existing = self.versions_of_run(name, run_id)
        if existing:
            return existing[0].version, False
        try:
            self.client.get_registered_model(name)
        except MlflowException as err:
            if not _missing(err):
                raise
            self.client.create_registered_model(
                name, description="Promoted by `hpo promote` from an hpo sweep."
            )
        mv = self.client.create_model_version(
            name,
            source=f"runs:/{run_id}/{MODEL_ARTIFACT}",
            run_id=run_id,
            tags=dict(tags),
            description=description,
        )
        return str(mv.version), True

    def alias_holder(self, name: str, alias: str) -> VersionInfo | None:
        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as err:
            if _missing(err):
                return None
            raise
        return VersionInfo(str(mv.version), mv.run_id or "")

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def version_count(self, name: str) -> int:
        try:
            return len(self.client.search_model_versions(f"name='{_quote(name)}'"))
        except MlflowException:
            return 0


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


# ---------------------------------------------------------------------- sweep reports


def trial_times(tracking_uri: str, experiment_id: str, sweep_run_id: str) -> dict[str, tuple]:
    """{trial run id: (start ms, end ms or None)}: reports plot progress against time."""
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{_quote(sweep_run_id)}'",
        max_results=50000,
    )
    return {r.info.run_id: (r.info.start_time, r.info.end_time) for r in runs}


def log_run_artifacts(tracking_uri: str, run_id: str, folder: str, artifact_path: str) -> None:
    """Upload a local folder under `artifact_path` of a run (the sweep report)."""
    MlflowClient(tracking_uri=tracking_uri).log_artifacts(run_id, folder, artifact_path)


def list_run_artifacts(tracking_uri: str, run_id: str, path: str | None = None) -> list[str]:
    """Artifact paths directly under `path` of a run."""
    return [a.path for a in MlflowClient(tracking_uri=tracking_uri).list_artifacts(run_id, path)]
