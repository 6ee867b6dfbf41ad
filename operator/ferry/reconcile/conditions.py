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


@dataclass(frozen=True)
class Verdict:
    """What a condition should say now; `merge` adds the bookkeeping fields."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    failure: bool = False  # says something is wrong: a Warning event, not a Normal one


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
    previous: Sequence[Condition], verdicts: Sequence[Verdict]
) -> list[EventSpec]:
    """One Event for every condition whose status or reason changed.

    A condition's first value is news only when it reports a failure: a new object starting
    out not-ready-yet is expected, not an event.
    """
    before = {c.type: c for c in previous}
    events = []
    for verdict in verdicts:
        old = before.get(verdict.type)
        if old is None and not verdict.failure:
            continue
        if old is not None and (old.status, old.reason) == (verdict.status, verdict.reason):
            continue
        events.append(
            EventSpec(
                type="Warning" if verdict.failure else "Normal",
                reason=verdict.reason,
                message=f"{verdict.type} is {verdict.status}: {verdict.message}",
            )
        )
    return events
