"""Condition bookkeeping: transition times that move only on flips, and an Event per change."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ferry.api.status import Condition, ConditionStatus

READY: Final = "Ready"
PROGRESSING: Final = "Progressing"
DEGRADED: Final = "Degraded"
ARTIFACT_VERIFIED: Final = "ArtifactVerified"
SCHEDULED: Final = "Scheduled"

# The (type, status) pairs a user should look at; every other transition is Normal.
_WARNING_STATES: Final = {
    (READY, "False"),
    (DEGRADED, "True"),
    (ARTIFACT_VERIFIED, "False"),
    (SCHEDULED, "False"),
}
_WARNING_REASONS: Final = {"ProgressDeadlineExceeded", "ApplyFailed", "InvalidSpec"}
_QUIET_REASONS: Final = {"ScaledToZero"}


@dataclass(frozen=True)
class Verdict:
    """What a condition should say now; `merge` adds the bookkeeping fields."""

    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class EventSpec:
    type: str  # Normal or Warning
    reason: str
    message: str


def merge(
    previous: Sequence[Condition], verdicts: Sequence[Verdict], generation: int, now: datetime
) -> list[Condition]:
    """Conditions in verdict order; lastTransitionTime is kept unless the status flips.

    Conditions of other types already in `previous` are kept as they are.
    """
    before = {c.type: c for c in previous}
    merged = []
    for verdict in verdicts:
        old = before.pop(verdict.type, None)
        since = now if old is None or old.status != verdict.status else old.last_transition_time
        merged.append(
            Condition(
                type=verdict.type,
                status=verdict.status,
                reason=verdict.reason,
                message=verdict.message,
                observed_generation=generation,
                last_transition_time=since,
            )
        )
    return merged + list(before.values())


def transition_events(
    previous: Sequence[Condition], current: Sequence[Condition]
) -> list[EventSpec]:
    """One Event for every condition whose status or reason changed."""
    before = {c.type: c for c in previous}
    events = []
    for condition in current:
        old = before.get(condition.type)
        if old is not None and old.same_state(condition):
            continue
        warning = (
            (condition.type, condition.status) in _WARNING_STATES
            or condition.reason in _WARNING_REASONS
        ) and condition.reason not in _QUIET_REASONS
        events.append(
            EventSpec(
                type="Warning" if warning else "Normal",
                reason=condition.reason,
                message=f"{condition.type} is {condition.status}: {condition.message}",
            )
        )
    return events
