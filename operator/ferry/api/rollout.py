"""The rollout part of the spec: canary steps, analysis thresholds, traffic routing.

Mirrors `spec.rollout` and `spec.traffic` in `crds/`; the CRD's CEL rules refuse the same
nonsense (weights not increasing, a threshold-less analysis) with the field named.
"""

import itertools
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# Go-style durations as Argo Rollouts and Flagger write them: 30s, 5m, 1h30m.
DURATION_PATTERN = r"^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$"
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


def duration_seconds(duration: str) -> int:
    """`1h30m` -> 5400. The pattern is checked by the model (and the CRD) first."""
    return sum(
        int(number) * _UNIT_SECONDS[unit]
        for number, unit in re.findall(r"([0-9]+)([hms])", duration)
    )


def _valid_duration(duration: str) -> str:
    if not duration or not re.fullmatch(DURATION_PATTERN, duration):
        raise ValueError("must be a duration such as 30s, 5m or 1h30m")
    if duration_seconds(duration) == 0:
        raise ValueError("must be longer than 0s; leave pause.duration out to wait for promotion")
    return duration


class Pause(_Spec):
    """`{duration: 30s}` waits that long; `{}` waits until the rollout is promoted."""

    duration: Annotated[str, AfterValidator(_valid_duration)] | None = None

    @property
    def seconds(self) -> int | None:
        return None if self.duration is None else duration_seconds(self.duration)


class Step(_Spec):
    weight: Annotated[int, Field(ge=1, le=100)]
    pause: Pause | None = None  # absent: go on as soon as the weight is reached (and analysed)


class Analysis(_Spec):
    """Thresholds on the canary's own metrics, checked once per interval."""

    interval_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    min_requests: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    max_error_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    max_mean_latency_ms: Annotated[float, Field(gt=0)] | None = None
    # Relative to the stable revision over the same interval.
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1)] | None = None
    max_mean_latency_ratio: Annotated[float, Field(ge=1)] | None = None
    failure_limit: Annotated[int, Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _has_a_threshold(self) -> "Analysis":
        if not self.thresholds_set:
            raise ValueError(
                "set at least one of maxErrorRate, maxMeanLatencyMs, maxErrorRateIncrease, "
                "maxMeanLatencyRatio"
            )
        return self

    @property
    def thresholds_set(self) -> bool:
        return any(
            t is not None
            for t in (
                self.max_error_rate,
                self.max_mean_latency_ms,
                self.max_error_rate_increase,
                self.max_mean_latency_ratio,
            )
        )

    @property
    def compares_with_stable(self) -> bool:
        return self.max_error_rate_increase is not None or self.max_mean_latency_ratio is not None


def _increasing(steps: list[Step]) -> list[Step]:
    weights = [s.weight for s in steps]
    if any(b <= a for a, b in itertools.pairwise(weights)):
        raise ValueError("weights must increase from one step to the next")
    return steps


class Rollout(_Spec):
    # Absent or []: the whole new revision at once, gated on readiness.
    steps: Annotated[list[Step], Field(max_length=20), AfterValidator(_increasing)] = []
    analysis: Analysis | None = None
    progress_deadline_seconds: Annotated[int, Field(ge=30, le=86_400)] = 600


class HttpRoute(_Spec):
    """A Gateway API HTTPRoute Ferry writes, splitting traffic by the exact step weight."""

    # Gateway API ParentReferences, passed through; the API server validates them.
    parent_refs: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=8)]
    hostnames: Annotated[list[str], Field(max_length=16)] = []


class Traffic(_Spec):
    http_route: HttpRoute | None = None
