"""What the rollout machine is given and what it decides: plain, frozen data."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ferry.api.rollout import Rollout
from ferry.api.status import HistoryEntry, ModelDeploymentStatus, RolloutStatus
from ferry.reconcile.conditions import EventSpec
from ferry.reconcile.failure import Failure
from ferry.rollout.actions import Actions
from ferry.rollout.analysis import Snapshot
from ferry.rollout.capacity import Room


@dataclass(frozen=True)
class RevisionFacts:
    """One revision as observed: its Deployment and its pods."""

    desired: int = 0  # the Deployment's spec.replicas (0 without a Deployment)
    ready: int = 0  # ready pods not being deleted
    live: int = 0  # pods not being deleted
    placed: int = 0  # pods bound to a node
    gpus_per_pod: int = 0
    failure: Failure | None = None  # its pods cannot serve: fetch, crash loop, image pull
    blocked: Failure | None = None  # its pods cannot be placed (GPU, placement)
    unready: Failure | None = None  # why a running pod is not ready, in its agent's words


@dataclass(frozen=True)
class Target:
    """The revision the spec describes, and the model it serves."""

    revision: str
    version: str
    uri: str
    sha256: str


@dataclass(frozen=True)
class Readings:
    """Per-pod counters read now, and the snapshots taken when the interval started (None
    when this operator process did not take them: it restarted, the interval restarts)."""

    canary: Snapshot
    stable: Snapshot
    canary_baseline: Snapshot | None = None
    stable_baseline: Snapshot | None = None


@dataclass(frozen=True)
class RolloutInput:
    target: Target
    total: int  # replicas the ModelDeployment should have in all
    spec: Rollout
    history_limit: int
    previous: ModelDeploymentStatus
    revisions: Mapping[str, RevisionFacts]  # every revision with a Deployment
    actions: Actions
    now: datetime
    readings: Readings | None = None  # only when `stats_due`
    room: Room | None = None  # for more canary pods (None: no GPU constraint)


@dataclass(frozen=True)
class RolloutDecision:
    stable: str
    stable_version: str
    replicas: Mapping[str, int]  # per revision; revisions not named get 0
    history: list[HistoryEntry]
    canary: str = ""
    canary_version: str = ""
    rollout: RolloutStatus | None = None
    events: tuple[EventSpec, ...] = ()
    hold: Failure | None = None  # why the rollout waits (not a failure of what serves)
    route_weight: int = 0  # the canary's share for an HTTPRoute
    baseline_at: datetime | None = None  # remember this reading as the interval's start
    requeue_after: float | None = None  # seconds until something time-based is due
