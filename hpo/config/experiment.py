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
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from hpo.config import yaml_load
from hpo.config.data_config import MEMORY_SOURCE, DataConfig
from hpo.config.names import check_name
from hpo.config.space import SearchSpace, SearchSpaceSpec, compile_space
from hpo.config.stop_when import StopWhen
from hpo.config.strict import Strict
from hpo.config.threshold import Threshold, parse_threshold, threshold_rule
from hpo.errors import UserInputError, first_line
from hpo.metrics import COMPARISONS, METRIC_NAMES, CostName, ScoreName, lower_is_better

FUNCTION_BUILDER = "function:"
# metrics a trial can be optimised or constrained on: validation scores and costs
ObjectiveMetric = Literal[ScoreName, CostName]
LABEL_SCORES = METRIC_NAMES  # the metrics a decision threshold changes
PrunerName = Literal["none", "median", "asha", "hyperband", "wilcoxon"]
# an experiment's MLflow name (and an artifact folder): the safe set of hpo/config/names.py
SafeName = Annotated[str, AfterValidator(check_name)]


class ModelConfig(Strict):
    builder: str = Field(
        description="a registered family (mlp, cnn, transfer, rnn, attention) "
        "or python:pkg.mod:function"
    )


class Objective(Strict):
    metric: ObjectiveMetric = "f1"
    average: Literal["macro", "weighted", "micro", "binary"] = "macro"
    # default (filled in before validation): maximize scores, minimize costs
    direction: Literal["maximize", "minimize"] = "maximize"
    # binary tasks: the decision threshold, tuned on validation (hpo/scoring.py)
    threshold: Threshold = None

    _threshold = field_validator("threshold", mode="before")(parse_threshold)

    @model_validator(mode="after")
    def _threshold_metric(self) -> Objective:
        if self.threshold is not None and self.metric not in LABEL_SCORES:
            raise ValueError(
                f"threshold: needs a metric of predicted labels ({', '.join(LABEL_SCORES)}), "
                f"not {self.metric}"
            )
        return self

    def threshold_rule(self) -> dict[str, float] | str | None:
        return threshold_rule(self.threshold)

    @model_validator(mode="before")
    @classmethod
    def _default_direction(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("direction") is None:
            metric = raw.get("metric", "f1")
            raw = {**raw, "direction": "minimize" if lower_is_better(metric) else "maximize"}
        return raw


class Constraint(Strict):
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


class StrategyConfig(Strict):
    name: str = "optuna-tpe"
    options: dict[str, Any] = Field(default_factory=dict)
    pruner: PrunerName = "none"


class Budget(Strict):
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
    stop_when: StopWhen | None = None
    mixed_precision: bool = Field(
        default=False, description="mixed_float16 on a GPU, mixed_bfloat16 on the CPU"
    )

    @model_serializer(mode="wrap")
    def _drop_unset_new(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the newer keys out when unset, so older configs keep their hashes."""
        data: dict[str, Any] = handler(self)
        if data.get("stop_when") is None:
            data.pop("stop_when", None)
        if not data.get("mixed_precision"):
            data.pop("mixed_precision", None)
        return data


class Evaluation(Strict):
    """How a trial is scored: the validation split (default), k stratified folds of
    train + validation, and/or several training seeds per split (hpo/trial/cv.py)."""

    cv: int | None = Field(
        default=None, ge=2, description="stratified folds of train + validation (default: none)"
    )
    repeats: int = Field(default=1, ge=1, description="training seeds per split")


class TrackingConfig(Strict):
    uri: str | None = None
    experiment: SafeName | None = None
    log_models: bool = True
    report: bool = True  # plots + HTML on the sweep run (report/) at the end of `hpo run`


class Experiment(Strict):
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
    evaluation: Evaluation = Evaluation()
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
        folded = self.evaluation.cv is not None or self.evaluation.repeats > 1
        if self.strategy.pruner == "wilcoxon" and not folded:
            raise ValueError(
                "strategy.pruner wilcoxon compares folds or repeats: set evaluation.cv or "
                "evaluation.repeats"
            )
        return self

    @model_serializer(mode="wrap")
    def _drop_default_evaluation(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave `evaluation` out when it is the default, so configs written before it
        existed keep their hashes."""
        data: dict[str, Any] = handler(self)
        if self.evaluation == Evaluation():
            data.pop("evaluation", None)
        return data

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
