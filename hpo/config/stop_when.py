"""`budget.stop_when`: the rules that end a sweep before its budget, as configured.

What the rules mean and why is in hpo/sweep/stop_rules.py, which evaluates them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoImprovement(_Rule):
    """Stop after `trials` trials in a row did not beat the best by more than `min_delta`."""

    trials: int = Field(ge=1)
    min_delta: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class StopWhen(_Rule):
    """Rules that end a sweep before its budget (hpo/sweep/stop_rules.py); any one stops it."""

    no_improvement: NoImprovement | None = None
    noise_aware: bool = False
    min_trials: int = Field(default=20, ge=1, description="no rule stops before this many")

    @model_validator(mode="after")
    def _some_rule(self) -> StopWhen:
        if self.no_improvement is None and not self.noise_aware:
            raise ValueError("name a rule: no_improvement: {trials: N} or noise_aware: true")
        return self
