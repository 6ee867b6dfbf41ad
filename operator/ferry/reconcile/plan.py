"""The reconcile decision: (ModelDeployment, observed world, clock) -> writes, status, events.

Pure: the caller reads the world, asks `wants` what else to read (pod counters for
analysis, nodes for GPU room), calls `decide`, and carries out the plan in order (apply
children, scale older revisions, write status, post events, delete stale children).
Deleting last means a revision is only removed after the status that stops relying on it
has been recorded.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ferry.api import labels
from ferry.api.parse import (
    DEFAULT_IMAGES,
    DefaultImages,
    ModelDeployment,
    SpecError,
    parse_model_deployment,
    parse_status,
)
from ferry.api.status import ModelDeploymentStatus
from ferry.build.children import Shape, desired_children
from ferry.build.network import OperatorIdentity
from ferry.build.pod import pod_template
from ferry.build.traffic import role_service_name
from ferry.build.workload import revision_of
from ferry.health.readiness import Verdict
from ferry.health.stats import PodStats
from ferry.reconcile import conditions as c
from ferry.reconcile.activity import activity_events
from ferry.reconcile.autoscale import Evaluation, Sample, conflict, total_replicas
from ferry.reconcile.autoscale import evaluate as evaluate_autoscaling
from ferry.reconcile.drift import needs_apply
from ferry.reconcile.observed import deployment_view, pod_view
from ferry.reconcile.revisions import Observation, revision_facts
from ferry.reconcile.status import Extras, evaluate
from ferry.rollout import history
from ferry.rollout.actions import read_actions
from ferry.rollout.analysis import Snapshot
from ferry.rollout.capacity import Room, room_for
from ferry.rollout.facts import Readings, RolloutDecision, RolloutInput, Target
from ferry.rollout.interval import stats_due
from ferry.rollout.machine import decide_rollout
from ferry.scaling.memory import Memory

# Kinds that exist once per revision; the others exist once per ModelDeployment.
REVISION_KINDS = ("Deployment", "ConfigMap")
# Children that exist only with spec.traffic.httpRoute.
ROUTE_KINDS = ("HTTPRoute",)
# Not-ready pods whose agents are asked why, per reconcile: one says it for all, mostly.
MAX_READINESS_READS = 3


@dataclass(frozen=True)
class ChildRef:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class World:
    """What the API server holds for one ModelDeployment, as raw objects."""

    children: Sequence[dict[str, Any]]  # everything labelled as this ModelDeployment's
    pods: Sequence[dict[str, Any]]
    # Only when `wants(...).capacity`: every node, and every pod bound to one.
    nodes: Sequence[dict[str, Any]] | None = None
    node_pods: Sequence[dict[str, Any]] | None = None
    # The HorizontalPodAutoscalers that target this ModelDeployment (None: not known).
    autoscalers: Sequence[dict[str, Any]] | None = None


BaselineKey = tuple[str, int, datetime]  # (revision, attempt, interval start)


@dataclass(frozen=True)
class StatsPod:
    name: str
    ip: str


@dataclass(frozen=True)
class Wants:
    stats: tuple[StatsPod, ...] = ()  # read these pods' /stats before deciding
    baseline_key: BaselineKey | None = None  # the snapshot the running interval started from
    capacity: bool = False  # read nodes and the pods bound to them
    autoscaled: bool = False  # spec.autoscaling: evaluate every interval
    evaluate: bool = False  # an autoscaling evaluation is due: pass `Scaling`
    readiness: tuple[StatsPod, ...] = ()  # running, not-ready pods: ask their agents why


@dataclass(frozen=True)
class Counters:
    """What the caller read for `Wants.stats`, and the remembered interval baseline."""

    read: Mapping[str, PodStats]  # by pod name
    baseline: tuple[Snapshot, Snapshot] | None = None  # (canary, stable) at interval start


@dataclass(frozen=True)
class Scaling:
    """An autoscaling evaluation's inputs the caller keeps between evaluations."""

    samples: Mapping[str, Sample]  # by pod name
    memory: Memory | None


@dataclass(frozen=True)
class Scale:
    name: str  # a Deployment of an older revision
    replicas: int


@dataclass(frozen=True)
class Plan:
    apply: tuple[dict[str, Any], ...] = ()
    scale: tuple[Scale, ...] = ()
    status: dict[str, Any] | None = None  # None: the recorded status is already right
    events: tuple[c.EventSpec, ...] = ()
    delete: tuple[ChildRef, ...] = ()
    revision: str = ""
    requeue_after: float | None = None  # reconcile again this soon (time-based rollout steps)
    baseline: BaselineKey | None = None  # remember `readings` under this key
    readings: tuple[Snapshot, Snapshot] | None = None  # (canary, stable) counters read now
    scaling_memory: Memory | None = None  # an evaluation ran: keep this for the next one


@dataclass(frozen=True)
class _Seen:
    md: ModelDeployment
    previous: ModelDeploymentStatus
    target: str
    owned: list[dict[str, Any]]
    observation: Observation


def _see(body: dict[str, Any], world: World, images: DefaultImages) -> _Seen:
    md = parse_model_deployment(body, images)
    owned = [o for o in world.children if _controlled_by(o, md.uid)]
    deployments = [deployment_view(o) for o in owned if o["kind"] == "Deployment"]
    pods = tuple(
        pod_view(p, md.image, md.spec.resources.gpu_resource_name)
        for p in world.pods
        if (p["metadata"].get("labels") or {}).get(labels.MODEL_DEPLOYMENT) == md.name
    )
    observation = Observation({d.revision: d for d in deployments}, pods)
    return _Seen(md, parse_status(body), revision_of(md), owned, observation)


def wants(
    body: dict[str, Any],
    world: World,
    now: datetime,
    *,
    evaluated_at: datetime | None = None,
    interval_seconds: float = 10.0,
    images: DefaultImages = DEFAULT_IMAGES,
) -> Wants:
    """What else this reconcile must read before `decide`. `evaluated_at`: the last
    autoscaling evaluation (the caller keeps it; None: none yet in this process)."""
    try:
        seen = _see(body, world, images)
    except SpecError:
        return Wants()
    md, previous, target = seen.md, seen.previous, seen.target
    stable = previous.stable_revision
    rolling = stable in seen.observation.deployments and target != stable
    fast = history.known_good(previous.history, target)
    analysis = None if fast else md.spec.rollout.analysis
    ready = {r: _ready_pods(seen.observation, r) for r in (target, stable)}
    pods: dict[str, StatsPod] = {}
    key = None
    if rolling and stats_due(previous, analysis, target, len(ready[target]), now):
        pods |= ready[target]
        if analysis is not None and analysis.compares_with_stable:
            pods |= ready[stable]
    r = previous.rollout
    if rolling and r is not None and r.interval_started_at is not None:
        key = (target, r.attempt, r.interval_started_at)
    autoscaled = md.spec.autoscaling is not None
    evaluate = autoscaled and (
        evaluated_at is None or (now - evaluated_at).total_seconds() >= interval_seconds
    )
    if evaluate:
        for revision in _serving(previous, target):
            pods |= _ready_pods(seen.observation, revision)
    unready = [
        StatsPod(p.name, p.ip)
        for p in seen.observation.pods_of(target)
        if p.serving and not p.ready and not p.deleting and p.ip
    ]
    return Wants(
        stats=tuple(pods.values()),
        baseline_key=key,
        capacity=rolling and md.spec.resources.gpu > 0,
        autoscaled=autoscaled,
        evaluate=evaluate,
        readiness=tuple(unready[:MAX_READINESS_READS]),
    )


def _ready_pods(seen: Observation, revision: str) -> dict[str, StatsPod]:
    return {p.name: StatsPod(p.name, p.ip) for p in seen.pods_of(revision) if p.ready and p.ip}


def _serving(previous: ModelDeploymentStatus, target: str) -> list[str]:
    """Revisions whose pods take traffic, as last recorded."""
    stable = previous.stable_revision or target
    return [r for r in dict.fromkeys((stable, previous.canary_revision)) if r]


def decide(
    body: dict[str, Any],
    world: World,
    now: datetime,
    operator: OperatorIdentity,
    apply_errors: Sequence[str] = (),
    *,
    counters: Counters | None = None,
    scaling: Scaling | None = None,
    images: DefaultImages = DEFAULT_IMAGES,
    readiness: Mapping[str, Verdict] | None = None,
) -> Plan:
    """`readiness`: the agents' verdicts on `wants(...).readiness` pods, by pod name."""
    try:
        seen = _see(body, world, images)
    except SpecError as error:
        return _invalid_spec_plan(body, parse_status(body), str(error), now)
    md, target = seen.md, seen.target
    autoscaled = _autoscale(seen, world, scaling, now)
    total = autoscaled.total if autoscaled else total_replicas(md, seen.previous)
    readings = _readings(counters, seen, target)
    room = _room(md, target, world)
    facts = revision_facts(md, target, seen.observation, room, readiness)
    model = md.spec.model
    decision = decide_rollout(
        RolloutInput(
            target=Target(target, model.version, model.uri, model.sha256),
            total=total,
            spec=md.spec.rollout,
            history_limit=md.spec.revision_history_limit,
            previous=seen.previous,
            revisions=facts,
            actions=read_actions(body["metadata"].get("annotations") or {}, target),
            now=now,
            readings=readings,
            room=room,
        )
    )
    shape = Shape(
        replicas=decision.replicas.get(target, 0),
        total=total,
        stable=decision.stable,
        canary=decision.canary,
        canary_weight=decision.route_weight,
    )
    observed = {(o["kind"], o["metadata"]["name"]): o for o in seen.owned}
    to_apply = tuple(
        child
        for child in desired_children(md, target, shape, operator)
        if needs_apply(child, observed.get((child["kind"], child["metadata"]["name"])))
    )
    assessment = evaluate(
        md,
        target=target,
        total=total,
        previous=seen.previous,
        seen=seen.observation,
        facts=facts,
        decision=decision,
        apply_errors=apply_errors,
        now=now,
        extras=_extras(md, seen.previous, world, autoscaled),
    )
    keep = _kept(md, target, decision)
    baseline = None
    if decision.baseline_at is not None and decision.rollout is not None:
        baseline = (target, decision.rollout.attempt, decision.baseline_at)
    return Plan(
        apply=to_apply,
        scale=_scaled(seen.observation, target, keep, decision),
        status=_if_changed(assessment.status, body),
        events=assessment.events,
        delete=() if apply_errors else _stale(md, keep, total, seen.owned),
        revision=target,
        requeue_after=decision.requeue_after,
        baseline=baseline,
        readings=(readings.canary, readings.stable) if readings else None,
        scaling_memory=autoscaled.memory if autoscaled else None,
    )


def _autoscale(
    seen: _Seen, world: World, scaling: Scaling | None, now: datetime
) -> Evaluation | None:
    md, previous = seen.md, seen.previous
    if scaling is None or md.spec.autoscaling is None:
        return None
    pods = [p for r in _serving(previous, seen.target) for p in seen.observation.pods_of(r)]
    return evaluate_autoscaling(
        md,
        md.spec.autoscaling,
        previous=previous,
        pods=pods,
        samples=scaling.samples,
        memory=scaling.memory,
        now=now,
    )


def _extras(
    md: ModelDeployment, previous: ModelDeploymentStatus, world: World, ev: Evaluation | None
) -> Extras:
    """What autoscaling adds to status: its decision, a conflict with an HPA, its event."""
    if md.spec.autoscaling is None:
        return Extras()
    verdicts = []
    if world.autoscalers is not None and (found := conflict(md, world.autoscalers)):
        verdicts.append(found)
    if ev is None:
        return Extras(autoscaling=previous.autoscaling, verdicts=tuple(verdicts))
    return Extras(autoscaling=ev.status, verdicts=tuple(verdicts), events=ev.events)


def _readings(counters: Counters | None, seen: _Seen, target: str) -> Readings | None:
    if counters is None:
        return None
    stable = seen.previous.stable_revision

    def of(revision: str) -> Snapshot:
        names = {p.name for p in seen.observation.pods_of(revision) if p.ready}
        return {name: stats for name, stats in counters.read.items() if name in names}

    base = counters.baseline
    return Readings(
        canary=of(target),
        stable=of(stable),
        canary_baseline=base[0] if base else None,
        stable_baseline=base[1] if base else None,
    )


def _room(md: ModelDeployment, target: str, world: World) -> Room | None:
    gpus = md.spec.resources.gpu
    if gpus == 0 or world.nodes is None or world.node_pods is None:
        return None
    return room_for(
        world.nodes,
        world.node_pods,
        resource=md.spec.resources.gpu_resource_name,
        per_pod=gpus,
        pod_spec=pod_template(md, target)["spec"],
    )


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or ()
    )


def _kept(md: ModelDeployment, target: str, decision: RolloutDecision) -> set[str]:
    """Revisions whose Deployment and ConfigMap stay: serving, tried, or in the history."""
    kept = {target, decision.stable, decision.canary}
    return (kept | history.retained(decision.history, md.spec.revision_history_limit)) - {""}


def _scaled(
    seen: Observation, target: str, keep: set[str], decision: RolloutDecision
) -> tuple[Scale, ...]:
    """Older revisions are only scaled: they cannot be rebuilt from today's spec."""
    scales = []
    for revision, deployment in sorted(seen.deployments.items()):
        if revision == target or revision not in keep:
            continue
        wanted = decision.replicas.get(revision, 0)
        if deployment.desired != wanted:
            scales.append(Scale(deployment.name, wanted))
    return tuple(scales)


def _stale(
    md: ModelDeployment, keep: set[str], total: int, owned: Sequence[dict[str, Any]]
) -> tuple[ChildRef, ...]:
    """Revisions nobody needs, a PDB with one replica to protect, routes no longer asked for."""
    stale = []
    routed = md.spec.traffic.http_route is not None
    role_services = {role_service_name(md.name, role) for role in ("stable", "canary")}
    for obj in owned:
        kind, metadata = obj["kind"], obj["metadata"]
        revision_label = (metadata.get("labels") or {}).get(labels.REVISION)
        unneeded = (
            (kind in REVISION_KINDS and revision_label not in keep)
            or (kind == "PodDisruptionBudget" and total <= 1)
            or (not routed and (kind in ROUTE_KINDS or metadata["name"] in role_services))
        )
        if unneeded:
            stale.append(ChildRef(obj["apiVersion"], kind, metadata["name"]))
    return tuple(sorted(stale, key=lambda ref: (ref.kind, ref.name)))


def _if_changed(status: ModelDeploymentStatus, body: dict[str, Any]) -> dict[str, Any] | None:
    """The status to write, unless every field of it is already recorded."""
    new, recorded = status.to_body(), body.get("status") or {}
    return None if all(recorded.get(key) == value for key, value in new.items()) else new


def _invalid_spec_plan(
    body: dict[str, Any], previous: ModelDeploymentStatus, error: str, now: datetime
) -> Plan:
    """Touch no child (what serves keeps serving) and say what to fix."""
    generation = int(body["metadata"].get("generation") or 0)
    verdicts = [
        c.Verdict(c.READY, "False", "InvalidSpec", error, failure=True),
        c.Verdict(c.PROGRESSING, "False", "InvalidSpec", error, failure=True),
        c.Verdict(c.DEGRADED, "True", "InvalidSpec", error, failure=True),
        c.Verdict(c.RECONCILING, "False", "InvalidSpec", error),
        c.Verdict(c.STALLED, "True", "InvalidSpec", error, failure=True),
    ]
    conditions = c.merge(previous.conditions, verdicts, generation, now)
    status = previous.model_copy(
        update={"observed_generation": generation, "conditions": conditions}
    )
    return Plan(
        status=_if_changed(status, body),
        events=tuple(activity_events(previous.conditions, verdicts, ())),
    )
