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
MODEL_HEALTHY: Final = "ModelHealthy"
# kstatus (sigs.k8s.io/cli-utils): abnormal-true conditions GitOps tools read.
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"


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
