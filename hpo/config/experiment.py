"""Experiment configuration: YAML in, a validated, frozen `Experiment` out.

Every user mistake becomes a `UserInputError` naming the file, the field path and the
problem, so the CLI can print one line and exit 2 before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from hpo.config import yaml_load
from hpo.config.names import check_name
from hpo.config.space import SearchSpace, SearchSpaceSpec, compile_space
from hpo.errors import UserInputError, first_line
from hpo.metrics import COMPARISONS, CostName, ScoreName, lower_is_better

# the names `data.source` takes; hpo.data.sources maps each to its loader (a test keeps the
# two in step)
DataSource = Literal[
    "digits",
    "digits_images",
    "breast_cancer",
    "wine",
    "iris",
    "synthetic",
    "csv",
    "parquet",
    "npz",
    "text_demo",
    "text_csv",
    "memory",
]
# a partial experiment (`Experiment.from_dict`, `hpo.run`) may leave out the data source and
# the model: the data then comes from `hpo.run(data=...)`, the builder from `builder=`
MEMORY_SOURCE = "memory"
FUNCTION_BUILDER = "function:"
FILE_SOURCES = ("csv", "parquet", "npz", "text_csv")
# metrics a trial can be optimised or constrained on: validation scores and costs
ObjectiveMetric = Literal[ScoreName, CostName]
PrunerName = Literal["none", "median", "asha", "hyperband"]
# an experiment's MLflow name (and an artifact folder): the safe set of hpo/config/names.py
SafeName = Annotated[str, AfterValidator(check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticOptions(_Strict):
    """Arguments of scikit-learn's make_classification."""

    n_samples: int = Field(default=1000, ge=20)
    n_features: int = Field(default=20, ge=2)
    n_informative: int = Field(default=10, ge=1)
    n_redundant: int = Field(default=2, ge=0)
    n_classes: int = Field(default=3, ge=2)
    class_sep: float = Field(default=1.0, gt=0)
    flip_y: float = Field(default=0.01, ge=0, le=1)


class TextDemoOptions(_Strict):
    """The generated text data set (`source: text_demo`, see hpo/data/textgen.py)."""

    n_samples: int = Field(default=3000, ge=60, le=200_000)
    n_classes: int = Field(default=4, ge=2, le=6)
    label_noise: float = Field(default=0.04, ge=0, lt=0.5)


class DataConfig(_Strict):
    source: DataSource
    path: str | None = None
    target: str | None = Field(default=None, description="csv/parquet column or npz array")
    features: list[str] | None = Field(default=None, description="feature columns or npz array")
    synthetic: SyntheticOptions = SyntheticOptions()
    text_column: str | None = Field(default=None, description="text_csv: the text column")
    text_demo: TextDemoOptions | None = Field(
        default=None, description="text_demo: size of the generated set (defaults when absent)"
    )
    validation_size: float = Field(default=0.2, gt=0, lt=1)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    scaling: Literal["standard", "minmax", "none"] = "standard"
    max_samples: int | None = Field(default=None, ge=20, description="stratified subsample")
    seed: int | None = Field(
        default=None, description="seed of the split (default: the experiment's seed)"
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source in FILE_SOURCES and not self.path:
            raise ValueError(f"source {self.source!r} needs 'path'")
        if self.source not in FILE_SOURCES and self.path:
            raise ValueError(f"'path' is only for sources {', '.join(FILE_SOURCES)}")
        if self.text_column is not None and self.source != "text_csv":
            raise ValueError("'text_column' is only for source 'text_csv'")
        if self.text_demo is not None and self.source != "text_demo":
            raise ValueError("'text_demo' options are only for source 'text_demo'")
        if self.validation_size + self.test_size >= 0.9:
            raise ValueError("validation_size + test_size must leave at least 10% for training")
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_text(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the text keys out when unset, so configs written before the text sources
        existed keep their hashes (and their studies stay resumable)."""
        data: dict[str, Any] = handler(self)
        for key in ("text_column", "text_demo", "seed"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class ModelConfig(_Strict):
    builder: str = Field(
        description="a registered family (mlp, cnn, transfer, rnn, attention) "
        "or python:pkg.mod:function"
    )


class Objective(_Strict):
    metric: ObjectiveMetric = "f1"
    average: Literal["macro", "weighted", "micro", "binary"] = "macro"
    # default (filled in before validation): maximize scores, minimize costs
    direction: Literal["maximize", "minimize"] = "maximize"

    @model_validator(mode="before")
    @classmethod
    def _default_direction(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("direction") is None:
            metric = raw.get("metric", "f1")
            raw = {**raw, "direction": "minimize" if lower_is_better(metric) else "maximize"}
        return raw


class Constraint(_Strict):
    """`precision >= 0.9`: a trial that breaks it is never picked as the best."""

    metric: ObjectiveMetric
    op: Literal[">=", "<=", ">", "<"]
    value: float = Field(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            import re

            match = re.fullmatch(r"\s*([a-z_0-9]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*", raw)
            if match is None:
                raise ValueError(f"cannot read constraint {raw!r}: write e.g. 'precision >= 0.9'")
            return {"metric": match[1], "op": match[2], "value": float(match[3])}
        return raw

    def violation(self, value: float) -> float:
        """<= 0 when satisfied (Optuna's convention for constraint values)."""
        if self.op in (">=", ">"):
            return self.value - value
        return value - self.value

    def holds(self, value: float | None) -> bool:
        return value is not None and COMPARISONS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class StrategyConfig(_Strict):
    name: str = "optuna-tpe"
    options: dict[str, Any] = Field(default_factory=dict)
    pruner: PrunerName = "none"


class Budget(_Strict):
    trials: int = Field(default=20, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1, description="unless searched as 'batch_size'")
    early_stopping_patience: int | None = Field(default=None, ge=1)
    max_initial_failures: int = Field(
        default=5, ge=1, description="stop the sweep when this many first trials all fail"
    )
    recycle_after: int = Field(
        default=50, ge=1, description="restart the training process after this many trials"
    )


class TrackingConfig(_Strict):
    uri: str | None = None
    experiment: SafeName | None = None
    log_models: bool = True
    report: bool = True  # plots + HTML on the sweep run (report/) at the end of `hpo run`


class Experiment(_Strict):
    """A validated experiment. `search_space` is always inline here (files are resolved)."""

    name: SafeName
    seed: int = 0
    data: DataConfig
    model: ModelConfig
    search_space: SearchSpaceSpec
    objective: Objective | list[Objective] = Objective()
    constraints: list[Constraint] = Field(default_factory=list)
    strategy: StrategyConfig = StrategyConfig()
    budget: Budget = Budget()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _one_average(self) -> Experiment:
        objectives = self.objectives
        if not objectives:
            raise ValueError("objective: list at least one metric")
        if len({o.metric for o in objectives}) != len(objectives):
            raise ValueError("objective: each metric may appear once")
        if len({o.average for o in objectives}) > 1:
            raise ValueError("objective: all objectives must use the same average")
        return self

    @property
    def space(self) -> SearchSpace:
        return compile_space(self.search_space)

    @property
    def objectives(self) -> list[Objective]:
        return self.objective if isinstance(self.objective, list) else [self.objective]

    @property
    def primary(self) -> Objective:
        """The first objective: it names `best_<metric>` and decides which models to log."""
        return self.objectives[0]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def search_sha256(self) -> str:
        """Hash of what defines a study's trials; a resumed study must match it."""
        part = {
            "data": self.data.model_dump(mode="json"),
            "seed": self.seed,
            "model": self.model.model_dump(mode="json"),
            "search_space": self.search_space.model_dump(mode="json"),
            "objective": [o.model_dump(mode="json") for o in self.objectives],
        }
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "dict") -> Experiment:
        """An experiment from a mapping of the YAML schema, validated like a file. It may be
        partial: `data` without a `source` (data given to `hpo.run(data=...)`) and no `model`
        (a function given as `hpo.run(builder=...)`).

        Raises:
            UserInputError: a field is missing or wrong (named as in the file).
        """
        return _validate(_fill_partial(raw), source=source)

    def with_overrides(self, **changes: Any) -> Experiment:
        """Apply CLI flags (dotted keys such as `budget.trials`), validated like the file."""
        changes = {dotted: value for dotted, value in changes.items() if value is not None}
        if not changes:
            return self
        raw = self.model_dump(mode="json")
        for dotted, value in changes.items():
            node = raw
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node[key]
            node[leaf] = value
        return _validate(raw, source="command line")


def _union_member(part: object) -> bool:
    """pydantic names the union member it tried in the path ("Objective", "list[...]")."""
    text = str(part)
    return text.startswith(("function-", "list[")) or text in ("Objective", "Constraint")


def _format_validation_error(err: ValidationError) -> tuple[str, str]:
    errors = err.errors()
    # for `Objective | list[Objective]` a dict fails both members: report the dict's error
    preferred = [e for e in errors if not any(str(p).startswith("list[") for p in e["loc"])]
    errors = preferred or errors
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"] if not _union_member(part))
    # pydantic puts the union member tag in the path ("params.lr.float.low"); keep it readable
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "union_tag_invalid":
        message = "type must be one of float, int, categorical, fixed"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return loc or "(top level)", message


def _fill_partial(raw: Any) -> Any:
    """Placeholders for what `hpo.run(data=..., builder=...)` may give instead: a data
    section without a source reads `data=`, a missing model calls `builder=`."""
    if not isinstance(raw, dict):
        return raw
    data = raw.get("data", {})
    if isinstance(data, dict) and "source" not in data:
        raw = {**raw, "data": {**data, "source": MEMORY_SOURCE}}
    if "model" not in raw:
        raw = {**raw, "model": {"builder": FUNCTION_BUILDER}}
    return raw


def _validate(raw: Any, source: str) -> Experiment:
    if not isinstance(raw, dict):
        raise UserInputError("the top level must be a mapping of sections", source=source)
    try:
        return Experiment.model_validate(raw)
    except ValidationError as err:
        field, message = _format_validation_error(err)
        raise UserInputError(message, source=source, field=field) from None


def read_yaml(path: Path, *, field: str | None = None) -> Any:
    """Read a YAML file, turning a missing file or bad YAML into a one-line error."""
    if not path.is_file():
        raise UserInputError("file not found", source=str(path), field=field)
    try:
        return yaml_load.safe_load(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise UserInputError("invalid YAML: nested too deeply", source=str(path)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or first_line(err)
        raise UserInputError(f"invalid YAML: {where}{problem}", source=str(path)) from None


def resolve_path(value: str, config_path: Path) -> Path:
    """A relative path in a config is looked up beside the config, then in the folder above
    it (the project root, where `search_spaces/` sits next to `experiments/`), then in the
    working directory; the last is reported when none exists."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (config_path.parent, config_path.parent.parent):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return Path.cwd() / candidate


def load_experiment(path: str | Path, *, partial: bool = False) -> Experiment:
    """Load and validate an experiment file, inlining a search-space file if named
    (`partial`: data source and model may be left out, as in `Experiment.from_dict`)."""
    config_path = Path(path)
    raw = read_yaml(config_path)
    if not isinstance(raw, dict):
        raise UserInputError("the top level must be a mapping of sections", source=str(path))
    space = raw.get("search_space")
    if isinstance(space, str):
        space_path = resolve_path(space, config_path)
        space_raw = read_yaml(space_path, field="search_space")
        try:
            SearchSpaceSpec.model_validate(space_raw)
        except ValidationError as err:
            field, message = _format_validation_error(err)
            raise UserInputError(message, source=str(space_path), field=field) from None
        raw = {**raw, "search_space": space_raw}
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        raw = {**raw, "data": {**data, "path": str(resolve_path(data["path"], config_path))}}
    return _validate(_fill_partial(raw) if partial else raw, source=str(path))
