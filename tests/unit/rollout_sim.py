"""A small world for the rollout machine: revisions whose pods follow the replicas decided
(at once, or never for a broken version), per-pod counters that grow with traffic, and a
clock. It feeds the machine exactly what the reconcile would (unit world: pure)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ferry.api.rollout import Rollout
from ferry.api.status import ModelDeploymentStatus
from ferry.health.stats import PodStats, RequestStats
from ferry.reconcile.failure import Failure
from ferry.rollout.actions import Actions
from ferry.rollout.capacity import Room
from ferry.rollout.facts import Readings, RevisionFacts, RolloutDecision, RolloutInput, Target
from ferry.rollout.interval import stats_due
from ferry.rollout.machine import decide_rollout

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NO_ACTIONS = Actions()


def target(version: str) -> Target:
    return Target(f"rev{version.replace('.', '')}", version, f"s3://m/{version}.mar", "0" * 64)


@dataclass
class Behaviour:
    """How a revision's pods behave."""

    ready: bool = True  # pods turn ready as soon as they exist
    error_rate: float = 0.0  # share of requests answered 5xx
    latency_ms: float = 10.0
    failure: Failure | None = None  # e.g. a checksum mismatch: pods cannot serve


@dataclass
class Sim:
    total: int
    rollout: dict[str, Any]
    history_limit: int = 5
    requests_per_pod_second: float = 5.0
    now: datetime = START
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    desired: dict[str, int] = field(default_factory=dict)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    counters: dict[str, PodStats] = field(default_factory=dict)  # pod -> cumulative
    baselines: dict[datetime, tuple[dict[str, PodStats], dict[str, PodStats]]] = field(
        default_factory=dict
    )
    room: Room | None = None
    decisions: list[RolloutDecision] = field(default_factory=list)

    @property
    def spec(self) -> Rollout:
        return Rollout.model_validate(self.rollout)

    def facts(self) -> dict[str, RevisionFacts]:
        facts = {}
        for revision, desired in self.desired.items():
            b = self.behaviour.get(revision, Behaviour())
            ready = desired if b.ready and b.failure is None else 0
            facts[revision] = RevisionFacts(desired, ready, desired, desired, failure=b.failure)
        return facts

    def pods(self, revision: str) -> list[str]:
        ready = self.facts().get(revision, RevisionFacts()).ready
        return [f"{revision}-{i}" for i in range(ready)]

    def serve(self, seconds: float) -> None:
        """Traffic for `seconds`: each ready pod answers its share, its counters grow."""
        for revision in self.desired:
            b = self.behaviour.get(revision, Behaviour())
            for pod in self.pods(revision):
                n = round(self.requests_per_pod_second * seconds)
                old = self.counters.get(pod, PodStats(model="m", version=revision))
                self.counters[pod] = old.model_copy(
                    update={
                        "requests": RequestStats(
                            total=old.requests.total + n,
                            errors5xx=old.requests.errors5xx + round(n * b.error_rate),
                        ),
                        "latency_micros_sum": old.latency_micros_sum + n * b.latency_ms * 1000,
                    }
                )

    def snapshot(self, revision: str) -> dict[str, PodStats]:
        return {p: self.counters[p] for p in self.pods(revision) if p in self.counters}

    def tick(
        self, spec_target: Target, seconds: float = 1.0, actions: Actions = NO_ACTIONS
    ) -> RolloutDecision:
        """Let `seconds` pass with traffic, then reconcile once, as the operator would."""
        self.serve(seconds)
        self.now += timedelta(seconds=seconds)
        self.desired.setdefault(spec_target.revision, 0)
        facts = self.facts()
        readings = None
        canary_ready = facts[spec_target.revision].ready
        if stats_due(self.status, self.spec.analysis, spec_target.revision, canary_ready, self.now):
            r = self.status.rollout
            start = r.interval_started_at if r else None
            base = self.baselines.get(start) if start else None
            stable = self.status.stable_revision
            readings = Readings(
                canary=self.snapshot(spec_target.revision),
                stable=self.snapshot(stable),
                canary_baseline=base[0] if base else None,
                stable_baseline=base[1] if base else None,
            )
        decision = decide_rollout(
            RolloutInput(
                target=spec_target,
                total=self.total,
                spec=self.spec,
                history_limit=self.history_limit,
                previous=self.status,
                revisions=facts,
                actions=actions,
                now=self.now,
                readings=readings,
                room=self.room,
            )
        )
        if decision.baseline_at is not None and readings is not None:
            self.baselines[decision.baseline_at] = (readings.canary, readings.stable)
        for revision in self.desired:
            self.desired[revision] = decision.replicas.get(revision, 0)
        self.status = self.status.model_copy(
            update={
                "stable_revision": decision.stable,
                "model_version": decision.stable_version,
                "canary_revision": decision.canary,
                "rollout": decision.rollout,
                "history": decision.history,
            }
        )
        self.decisions.append(decision)
        return decision

    def run(
        self, spec_target: Target, seconds: float, step: float = 1.0,
        actions: Actions = NO_ACTIONS,
    ) -> RolloutDecision:  # fmt: skip
        decision = self.tick(spec_target, step, actions)
        for _ in range(int(seconds / step) - 1):
            decision = self.tick(spec_target, step, actions)
        return decision

    def events(self) -> list[str]:
        return [e.reason for d in self.decisions for e in d.events]


def serving(sim: Sim, version: str) -> Sim:
    """A simulation where `version` already serves, stable, with every replica ready."""
    first = target(version)
    sim.tick(first, 0)
    sim.tick(first, 0)
    assert sim.status.stable_revision == first.revision
    sim.decisions.clear()
    return sim
