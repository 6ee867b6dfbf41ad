"""An autoscaling policy (`spec.autoscaling`) as plain data, checked once when built."""

from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["concurrency", "requestsPerSecond", "queueTimeMs"]
METRICS: tuple[Metric, ...] = ("concurrency", "requestsPerSecond", "queueTimeMs")

# Ratios are floats: 4.4 / 4 - 1 is a hair above 0.1, and 0.3 / 0.1 * 1 a hair above 3.
# Comparisons and ceilings allow this much so that the numbers a user reads decide.
EPSILON = 1e-9

# A step limit counts the replicas added or removed within this sliding period (HPA's
# default policy period), not per evaluation: reconciles that run more often than the
# evaluation interval (spec changes, pod events) must not compound steps.
STEP_PERIOD_SECONDS = 15


@dataclass(frozen=True)
class Rules:
    """How fast one direction may move: `spec.autoscaling.scaleUp` or `.scaleDown`."""

    stabilization_seconds: int
    max_step_percent: int  # of the replicas at the start of the step period


def _up() -> Rules:
    return Rules(stabilization_seconds=0, max_step_percent=100)


def _down() -> Rules:
    return Rules(stabilization_seconds=300, max_step_percent=50)


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    metric: Metric
    target: float  # per replica: in-flight requests, requests per second, or milliseconds
    tolerance: float = 0.1
    scale_up: Rules = field(default_factory=_up)
    scale_down: Rules = field(default_factory=_down)

    def __post_init__(self) -> None:
        problems = [
            message
            for failed, message in (
                (self.min_replicas < 1, "minReplicas must be at least 1"),
                (self.max_replicas < self.min_replicas, "maxReplicas must be >= minReplicas"),
                (self.metric not in METRICS, f"metric must be one of {', '.join(METRICS)}"),
                (not self.target > 0, "target must be greater than 0"),
                (not 0 <= self.tolerance < 1, "tolerance must be in [0, 1)"),
                (self.scale_up.stabilization_seconds < 0, "scaleUp.stabilizationSeconds < 0"),
                (self.scale_down.stabilization_seconds < 0, "scaleDown.stabilizationSeconds < 0"),
                (self.scale_up.max_step_percent < 1, "scaleUp.maxStepPercent must be >= 1"),
                (
                    not 1 <= self.scale_down.max_step_percent <= 100,
                    "scaleDown.maxStepPercent must be in [1, 100]",
                ),
            )
            if failed
        ]
        if problems:
            raise ValueError("spec.autoscaling: " + "; ".join(problems))

    def bounded(self, replicas: int) -> int:
        return min(max(replicas, self.min_replicas), self.max_replicas)

    def within_tolerance(self, ratio: float) -> bool:
        """`ratio` (metric / target) close enough to 1 that no count changes for it."""
        return abs(ratio - 1) <= self.tolerance + EPSILON
