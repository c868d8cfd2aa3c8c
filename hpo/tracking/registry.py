"""The MLflow model registry: model URIs, registered versions and aliases, model loading.

Promotion, export, serving and prediction all start from a model URI; this module checks a
URI and finds its run, loads the model (only after model_safety.py accepted its MLmodel),
and writes registry entries. Unknown models, versions, aliases and runs become one-line
`UserInputError`s (exit 2) before anything is written, so a typo never leaves the registry
half-changed. Run reads (the lineage of a trial, artifacts) come from reads.RunReads, small
run writes from runs.RunUpdates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from hpo.errors import UserInputError, first_line
from hpo.tracking.model_safety import checked_copy, require_keras
from hpo.tracking.reads import RunReads, mlflow_client
from hpo.tracking.runs import RunUpdates
from hpo.tracking.schema import MODEL_ARTIFACT
from hpo.tracking.store import existing_tracking_uri, quote
from hpo.urls import with_driver

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


class Registry(RunReads, RunUpdates):
    """Registry reads and writes on one tracking URI (also the registry URI: one database)."""

    def __init__(self, tracking_uri: str | None):
        # MLflow's global URIs stay the caller's (a notebook's own runs must not move to
        # hpo's store): downloads name their URIs and loaders read the local copy
        self.uri = existing_tracking_uri(tracking_uri)
        super().__init__(mlflow_client(self.uri))

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
            if "@" in rest or "/" in rest:
                by_alias = "@" in rest
                name, key = rest.split("@" if by_alias else "/", 1)
                if by_alias:
                    mv = self._version(
                        name, uri, "alias", key, self.client.get_model_version_by_alias
                    )
                else:
                    mv = self._version(name, uri, "version", key, self.client.get_model_version)
            else:
                name = rest
                self._registered_model(name, uri)
                versions = self.client.search_model_versions(f"name='{quote(name)}'")
                if not versions:
                    raise UserInputError(f"model {name!r} has no versions", field=uri)
                mv = max(versions, key=lambda v: int(v.version))
        except MlflowException as err:
            raise UserInputError(first_line(err), field=uri) from None
        return ModelRef(uri, mv.run_id or None, name=name, version=str(mv.version))

    def _version(
        self, name: str, uri: str, kind: str, key: str, fetch: Callable[[str, str], Any]
    ) -> Any:
        """The version of a registered model that `key` (an alias or a version) names."""
        self._registered_model(name, uri)
        try:
            return fetch(name, key)
        except MlflowException as err:
            if _missing(err):
                raise UserInputError(f"model {name!r} has no {kind} {key!r}", field=uri) from None
            raise

    def _registered_model(self, name: str, uri: str) -> None:
        try:
            self.client.get_registered_model(name)
        except MlflowException as err:
            if _missing(err):
                raise UserInputError(
                    f"no registered model {name!r} at {self.uri}", field=uri
                ) from None
            raise

    # ------------------------------------------------------------------ loading

    def checked_copy(self, uri: str, *, trust_model: bool = False) -> tuple[Path, dict[str, Any]]:
        """The local copy of the model that passed the safety check, and its MLmodel."""
        source = None
        if uri.startswith("models:/"):
            # MLflow resolves `models:/` against its global registry URI whatever URI a
            # download names: hpo finds the version in its own store and fetches its files
            ref = self._resolve_registered(uri)
            assert ref.name is not None and ref.version is not None
            source = self.client.get_model_version_download_uri(ref.name, ref.version)
        return checked_copy(uri, with_driver(self.uri), trust_model=trust_model, source=source)

    def load_keras(self, uri: str, *, trust_model: bool = False) -> Any:
        """The Keras model itself (export and evaluation need layers, not a pyfunc), loaded
        with Keras' safe_mode on, trusted or not: `--trust-model` lets an MLmodel's loader
        run, never the Python bytecode of a Lambda layer in the .keras file."""
        local, mlmodel = self.checked_copy(uri, trust_model=trust_model)
        return self.keras_from_copy(local, mlmodel, uri)

    def keras_from_copy(self, local: Path, mlmodel: dict[str, Any], uri: str) -> Any:
        """The Keras model of a copy `checked_copy` made (for callers that also read the
        files stored beside it, such as the decision threshold)."""
        import mlflow.keras

        require_keras(mlmodel, uri)
        try:
            return mlflow.keras.load_model(str(local), load_model_kwargs={"safe_mode": True})
        except (MlflowException, ValueError, OSError) as err:
            raise UserInputError(
                f"cannot load a Keras model: {first_line(err)}", field=uri
            ) from None

    def load_pyfunc(self, uri: str, *, trust_model: bool = False) -> Any:
        """The pyfunc model: the same object MLflow's scoring server calls (its Keras loader
        uses Keras' default safe_mode)."""
        import mlflow.pyfunc

        local, _ = self.checked_copy(uri, trust_model=trust_model)
        try:
            return mlflow.pyfunc.load_model(str(local))
        except (MlflowException, ValueError, OSError) as err:
            raise UserInputError(f"cannot load the model: {first_line(err)}", field=uri) from None

    def log_card(self, run_id: str, folder: str) -> str:
        """Upload the model card folder to the trial run; returns the card's artifact URI."""
        self.client.log_artifacts(run_id, folder, CARD_DIR)
        return f"runs:/{run_id}/{CARD_DIR}/{CARD_FILE}"

    # ------------------------------------------------------------------ registry writes

    def versions_of_run(self, name: str, run_id: str) -> list[VersionInfo]:
        try:
            found = self.client.search_model_versions(
                f"name='{quote(name)}' and run_id='{quote(run_id)}'"
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
            return len(self.client.search_model_versions(f"name='{quote(name)}'"))
        except MlflowException:
            return 0
