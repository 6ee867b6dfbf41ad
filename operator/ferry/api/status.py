"""The ModelDeployment status as typed models, mirroring `crds/`."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

ConditionStatus = Literal["True", "False", "Unknown"]


def rfc3339(moment: datetime) -> str:
    """metav1.Time: whole seconds, UTC, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: datetime) -> str:
    """metav1.MicroTime: microseconds, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339)]
# Rollout timers (pauses, intervals, deadlines) must never fire early: keep microseconds.
MicroTimestamp = Annotated[datetime, PlainSerializer(rfc3339_micro)]


class _Status(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Condition(_Status):
    """Shaped like metav1.Condition."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    observed_generation: int = 0
    last_transition_time: Timestamp


Verdict = Literal["Passed", "Failed", "Inconclusive"]
RolloutPhase = Literal["Progressing", "Paused", "RolledBack", "Aborted"]
Outcome = Literal["Promoted", "RolledBack", "Aborted", "Superseded"]


class AnalysisRecord(_Status):
    """One analysis interval of the canary (and of the stable revision, for comparisons)."""

    at: MicroTimestamp  # when the interval ended
    step: int
    requests: int
    error_rate: float | None = None
    mean_latency_ms: float | None = None
    stable_requests: int | None = None
    stable_error_rate: float | None = None
    stable_mean_latency_ms: float | None = None
    verdict: Verdict
    message: str


class RolloutStatus(_Status):
    """Progress of the rollout of `revision`: everything a restarted operator resumes from."""

    revision: str
    version: str  # model version of that revision
    uri: str = ""
    sha256: str = ""
    attempt: int = 1  # raised by each retry (the retry annotation names the next one)
    phase: RolloutPhase = "Progressing"
    step: int = 1  # 1-based index into the effective steps (spec steps, then 100 %)
    total_steps: int = 1
    step_weight: int = 100  # the weight the current step asks for
    started_at: MicroTimestamp
    step_started_at: MicroTimestamp
    weight_reached_at: MicroTimestamp | None = None  # the step's canary replicas all ready
    progress_at: MicroTimestamp  # last progress; the progress deadline counts from here
    interval_started_at: MicroTimestamp | None = None  # the analysis interval now running
    passed_intervals: int = 0  # at this step
    failed_intervals: int = 0  # over the whole attempt
    analysis: list[AnalysisRecord] = Field(default_factory=list)  # newest first, bounded
    reason: str = ""  # why it rolled back or was aborted (a condition reason)
    message: str = ""


class HistoryEntry(_Status):
    """A revision's rollout ended: promoted, rolled back, aborted or superseded."""

    revision: str
    version: str
    uri: str
    sha256: str
    outcome: Outcome
    reason: str
    at: MicroTimestamp


class AutoscalingStatus(_Status):
    """Ferry's autoscaler: the replica count it decided (spec.replicas is then ignored)."""

    desired_replicas: int
    metric_value: float | None = None  # per replica, over ready pods
    last_scale_time: MicroTimestamp | None = None
    reason: str = ""


class ModelDeploymentStatus(_Status):
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)
    replicas: int = 0
    ready_replicas: int = 0
    selector: str = ""
    # The revision the current spec describes, and the one that last became fully ready:
    # they differ while a new revision rolls out (or fails to).
    revision: str = ""
    stable_revision: str = ""
    # The model version of the stable revision: what answers requests, and its image.
    model_version: str = ""
    image: str = ""
    # The revision being tried beside the stable one, and its effective share of traffic
    # (ready canary pods / ready pods, or the HTTPRoute weight), in percent.
    canary_revision: str = ""
    canary_version: str = ""
    canary_weight: int = 0
    rollout: RolloutStatus | None = None
    history: list[HistoryEntry] = Field(default_factory=list)  # newest first
    autoscaling: AutoscalingStatus | None = None
    url: str = ""

    def condition(self, condition_type: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == condition_type), None)

    def to_body(self) -> dict[str, object]:
        """The merge patch body: nested unset fields left out (the API server would drop a
        null, and the recorded status must compare equal), top-level ones sent as null so a
        field that is no longer true (a finished rollout) is removed."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for name, info in type(self).model_fields.items():
            body.setdefault(info.alias or name, None)
        return body
