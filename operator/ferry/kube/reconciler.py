"""One reconcile of one ModelDeployment: read the world, decide (pure), carry out the plan."""

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ferry.api.parse import DEFAULT_IMAGES, DefaultImages
from ferry.build.network import OperatorIdentity
from ferry.build.traffic import role_service_name
from ferry.health.agents import PodAgents
from ferry.health.stats import PodStats
from ferry.kube.api import ApiError, KubeApi
from ferry.kube.cache import CachedWorld
from ferry.kube.events import event_object
from ferry.kube.own_writes import OwnWrites
from ferry.kube.patch import merge_patch
from ferry.kube.resources import (
    CHILDREN,
    DEPLOYMENTS,
    EVENTS,
    HTTP_ROUTES,
    MODEL_DEPLOYMENTS,
    NODES,
    PODS,
)
from ferry.reconcile.autoscale import Sample
from ferry.reconcile.drift import replacement
from ferry.reconcile.plan import (
    BaselineKey,
    Counters,
    Plan,
    Scaling,
    Wants,
    World,
    decide,
    wants,
)
from ferry.rollout.analysis import Snapshot
from ferry.scaling.memory import Memory

logger = logging.getLogger(__name__)

_INVALID = 422
_GONE = 404
# Pods that hold node resources (the capacity check reads them cluster-wide).
_NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Evaluated:
    """An autoscaling evaluation, as the next one needs it (kept in memory, as HPA does)."""

    at: datetime
    counters: dict[str, PodStats]
    memory: Memory | None


@dataclass(frozen=True)
class Reconciler:
    kube: KubeApi
    operator: OperatorIdentity
    instance: str  # names the reporting operator instance in Events
    agents: PodAgents
    images: DefaultImages = DEFAULT_IMAGES
    autoscale_interval_seconds: float = 10.0
    clock: Callable[[], datetime] = utc_now
    # Counter snapshots analysis intervals started from, per object: measurements, not
    # progress (that is in status); losing them restarts the running interval.
    baselines: dict[tuple[str, str], dict[BaselineKey, tuple[Snapshot, Snapshot]]] = field(
        default_factory=dict
    )
    evaluations: dict[tuple[str, str], _Evaluated] = field(default_factory=dict)
    own_writes: OwnWrites = field(default_factory=OwnWrites)

    def reconcile(self, namespace: str, name: str, seen: CachedWorld) -> float | None:
        """Converge one ModelDeployment; returns when to come back for a time-based step.
        `seen`: it, its children, pods and autoscalers from the watch caches.

        Raises ApiError only for transient failures.
        """
        try:
            return self._converge(namespace, name, seen)
        except ApiError as error:
            if not error.gone:
                raise
            # The object or its namespace is being deleted: nothing is left to converge.
            return None

    def _converge(self, namespace: str, name: str, seen: CachedWorld) -> float | None:
        key = (namespace, name)
        # The object and its children as the watches hold them, or as our own last write
        # answered when that is newer (the watch has not delivered it yet).
        cached = [seen.model_deployment] if seen.model_deployment is not None else []
        fresh = self.own_writes.freshest(key, cached + seen.children)
        body = next((obj for obj in fresh if obj["kind"] == MODEL_DEPLOYMENTS.kind), None)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.baselines.pop(key, None)
            self.evaluations.pop(key, None)
            self.own_writes.forget(key)
            return None  # gone or going: garbage collection removes the children
        children = [obj for obj in fresh if obj is not body]
        seen = dataclasses.replace(seen, children=children)
        world = self._cached(body, seen)
        now = self.clock()
        last = self.evaluations.get(key)
        wanted = wants(
            body,
            world,
            now,
            evaluated_at=last.at if last else None,
            interval_seconds=self.autoscale_interval_seconds,
            images=self.images,
        )
        world = self._read_more(world, wanted)
        counters = self._counters(key, wanted)
        scaling = _scaling(last, counters, now) if wanted.evaluate else None
        decide_now = functools.partial(
            decide, body, world, now, self.operator,
            counters=counters, scaling=scaling, images=self.images,
            readiness=self.agents.readiness({p.name: p.ip for p in wanted.readiness})
            if wanted.readiness else None,
        )  # fmt: skip
        plan = decide_now()
        rejected = self._apply(key, plan, world)
        if rejected:
            plan = decide_now(rejected)
        for scale in plan.scale:
            self.kube.scale(DEPLOYMENTS, namespace, scale.name, scale.replicas)
            logger.info("%s/%s: scaled %s to %d", namespace, name, scale.name, scale.replicas)
        if plan.status is not None:
            patch = merge_patch(body.get("status") or {}, plan.status)
            self.own_writes.record(
                key, self.kube.patch_status(MODEL_DEPLOYMENTS, namespace, name, patch)
            )
            logger.info("%s/%s: status written (revision %s)", namespace, name, plan.revision)
        for event in plan.events:
            self._post(namespace, event_object(body, event, now, self.instance))
        for ref in plan.delete:
            self.kube.delete(CHILDREN[ref.kind], namespace, ref.name)
            logger.info("%s/%s: deleted %s %s", namespace, name, ref.kind, ref.name)
        self._remember(key, plan, wanted, counters, now)
        delays = [plan.requeue_after] if plan.requeue_after is not None else []
        if wanted.autoscaled:
            since = (
                (now - self.evaluations[key].at).total_seconds() if key in self.evaluations else 0
            )
            delays.append(max(0.0, self.autoscale_interval_seconds - since))
        return min(delays) if delays else None

    def _read_more(self, world: World, wanted: Wants) -> World:
        """What `wants` asked for beyond the watch caches: GPU room during a rollout."""
        if wanted.capacity:
            world = dataclasses.replace(
                world,
                nodes=self.kube.list_objects(NODES),
                node_pods=self.kube.list_objects(PODS, "", [("fieldSelector", _NOT_TERMINAL)]),
            )
        return world

    def _cached(self, body: dict[str, Any], seen: CachedWorld) -> World:
        """The world from the watch caches; the HTTPRoute (its API may not be installed, so
        it is not watched) is read only when the object routes, or did (its Services)."""
        metadata = body["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        children = list(seen.children)
        routed = ((body.get("spec") or {}).get("traffic") or {}).get("httpRoute") is not None
        role_services = {role_service_name(name, role) for role in ("stable", "canary")}
        if routed or any(c["metadata"]["name"] in role_services for c in children):
            try:
                route = self.kube.get(HTTP_ROUTES, namespace, name)
            except ApiError as error:
                if error.status != _GONE:
                    raise
                route = None  # the Gateway API is not installed: apply will say so
            if route is not None:
                children.append(route)
        return World(children=children, pods=seen.pods, autoscalers=seen.autoscalers)

    def _remember(
        self,
        key: tuple[str, str],
        plan: Plan,
        wanted: Wants,
        counters: Counters | None,
        now: datetime,
    ) -> None:
        """Measurements the next reconciles need: interval baselines, the last evaluation."""
        read = dict(counters.read) if counters is not None else {}
        if plan.baseline is not None and counters is not None and plan.readings is not None:
            kept = self.baselines.setdefault(key, {})
            kept[plan.baseline] = plan.readings
            for stale in sorted(kept, key=lambda baseline: baseline[2])[:-2]:
                del kept[stale]  # the running interval's start, and the one before
        if wanted.evaluate:
            self.evaluations[key] = _Evaluated(now, read, plan.scaling_memory)

    def _counters(self, key: tuple[str, str], wanted: Wants) -> Counters | None:
        if not wanted.stats:
            return None
        read = self.agents.stats({p.name: p.ip for p in wanted.stats})
        remembered = self.baselines.get(key, {})
        baseline = remembered.get(wanted.baseline_key) if wanted.baseline_key else None
        return Counters(read, baseline)

    def _apply(self, key: tuple[str, str], plan: Plan, world: World) -> list[str]:
        """Apply every child; the API server's refusals come back as messages for status."""
        namespace = key[0]
        observed = {(o["kind"], o["metadata"]["name"]): o for o in world.children}
        rejected = []
        for child in plan.apply:
            kind, name = child["kind"], child["metadata"]["name"]
            try:
                self._apply_one(key, child, observed.get((kind, name)))
                logger.info("%s: applied %s %s", namespace, kind, name)
            except ApiError as error:
                # A 404 here is a kind this cluster does not serve (the Gateway API is not
                # installed): a refusal to report, not the object going away.
                if error.transient or (error.gone and error.status != _GONE):
                    raise
                logger.warning("%s: %s %s refused: %s", namespace, kind, name, error)
                rejected.append(f"{kind} {name}: {error.message}")
        return rejected

    def _apply_one(
        self, key: tuple[str, str], child: dict[str, Any], observed: dict[str, Any] | None
    ) -> None:
        resource = CHILDREN[child["kind"]]
        try:
            self.own_writes.record(key, self.kube.apply(resource, child))
        except ApiError as error:
            if error.status != _INVALID or observed is None:
                raise
            # Apply cannot remove a clashing entry another manager owns; a replace can.
            self.kube.replace(resource, replacement(observed, child))

    def _post(self, namespace: str, event: dict[str, Any]) -> None:
        # Events are best effort: losing one must not fail the reconcile that caused it.
        try:
            self.kube.create(EVENTS, namespace, event)
        except ApiError as error:
            if not error.gone:
                logger.warning("could not post event %s: %s", event["reason"], error)


def _scaling(last: _Evaluated | None, counters: Counters | None, now: datetime) -> Scaling:
    """Per-pod windows since the last evaluation (a pod not seen then has none yet)."""
    read = counters.read if counters is not None else {}
    seconds = (now - last.at).total_seconds() if last else 0.0
    samples = {
        pod: Sample(stats, last.counters.get(pod) if last else None, seconds)
        for pod, stats in read.items()
    }
    return Scaling(samples, last.memory if last else None)
