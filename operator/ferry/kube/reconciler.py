"""One reconcile of one ModelDeployment: read the world, decide (pure), carry out the plan."""

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ferry.api import labels
from ferry.build.network import OperatorIdentity
from ferry.health.counters import CounterSource
from ferry.kube.api import ApiError, KubeApi
from ferry.kube.events import event_object
from ferry.kube.resources import (
    CHILDREN,
    DEPLOYMENTS,
    EVENTS,
    MODEL_DEPLOYMENTS,
    NODES,
    OPTIONAL_CHILDREN,
    PODS,
)
from ferry.reconcile.drift import replacement
from ferry.reconcile.plan import BaselineKey, Counters, Plan, Wants, World, decide, wants
from ferry.rollout.analysis import Snapshot

logger = logging.getLogger(__name__)

_INVALID = 422
_GONE = 404
# Pods that hold node resources (the capacity check reads them cluster-wide).
_NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reconciler:
    kube: KubeApi
    operator: OperatorIdentity
    instance: str  # names the reporting operator instance in Events
    counters: CounterSource
    clock: Callable[[], datetime] = utc_now
    # Counter snapshots analysis intervals started from, per object: measurements, not
    # progress (that is in status); losing them restarts the running interval.
    baselines: dict[tuple[str, str], dict[BaselineKey, tuple[Snapshot, Snapshot]]] = field(
        default_factory=dict
    )

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Converge one ModelDeployment; returns when to come back for a time-based step.

        Raises ApiError only for transient failures.
        """
        try:
            return self._converge(namespace, name)
        except ApiError as error:
            if not error.gone:
                raise
            # The object or its namespace is being deleted: nothing is left to converge.
            return None

    def _converge(self, namespace: str, name: str) -> float | None:
        body = self.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.baselines.pop((namespace, name), None)
            return None  # gone or going: garbage collection removes the children
        world = self.read_world(namespace, name)
        now = self.clock()
        wanted = wants(body, world, now)
        if wanted.capacity:
            world = dataclasses.replace(
                world,
                nodes=self.kube.list_objects(NODES),
                node_pods=self.kube.list_objects(PODS, "", [("fieldSelector", _NOT_TERMINAL)]),
            )
        counters = self._counters((namespace, name), wanted)
        plan = decide(body, world, now, self.operator, counters=counters)
        rejected = self._apply(namespace, plan, world)
        if rejected:
            plan = decide(body, world, now, self.operator, rejected, counters=counters)
        for scale in plan.scale:
            self.kube.scale(DEPLOYMENTS, namespace, scale.name, scale.replicas)
            logger.info("%s/%s: scaled %s to %d", namespace, name, scale.name, scale.replicas)
        if plan.status is not None:
            self.kube.patch_status(MODEL_DEPLOYMENTS, namespace, name, plan.status)
            logger.info("%s/%s: status written (revision %s)", namespace, name, plan.revision)
        for event in plan.events:
            self._post(namespace, event_object(body, event, now, self.instance))
        for ref in plan.delete:
            self.kube.delete(CHILDREN[ref.kind], namespace, ref.name)
            logger.info("%s/%s: deleted %s %s", namespace, name, ref.kind, ref.name)
        if plan.baseline is not None and counters is not None:
            kept = self.baselines.setdefault((namespace, name), {})
            kept[plan.baseline] = (counters.canary, counters.stable)
            for stale in sorted(kept, key=lambda key: key[2])[:-2]:
                del kept[stale]  # the running interval's start, and the one before
        return plan.requeue_after

    def read_world(self, namespace: str, name: str) -> World:
        selector = f"{labels.MODEL_DEPLOYMENT}={name},{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
        children = []
        for kind, resource in CHILDREN.items():
            try:
                children += self.kube.list_labelled(resource, namespace, selector)
            except ApiError as error:
                if not (error.status == _GONE and kind in OPTIONAL_CHILDREN):
                    raise
        return World(children=children, pods=self.kube.list_labelled(PODS, namespace, selector))

    def _counters(self, key: tuple[str, str], wanted: Wants) -> Counters | None:
        if not wanted.stats:
            return None
        read = self.counters.read({p.name: p.ip for p in wanted.stats})
        canary = {p.name: read[p.name] for p in wanted.stats if p.canary and p.name in read}
        stable = {p.name: read[p.name] for p in wanted.stats if not p.canary and p.name in read}
        remembered = self.baselines.get(key, {})
        baseline = remembered.get(wanted.baseline_key) if wanted.baseline_key else None
        return Counters(canary, stable, baseline)

    def _apply(self, namespace: str, plan: Plan, world: World) -> list[str]:
        """Apply every child; the API server's refusals come back as messages for status."""
        observed = {(o["kind"], o["metadata"]["name"]): o for o in world.children}
        rejected = []
        for child in plan.apply:
            kind, name = child["kind"], child["metadata"]["name"]
            try:
                self._apply_one(child, observed.get((kind, name)))
                logger.info("%s: applied %s %s", namespace, kind, name)
            except ApiError as error:
                if error.transient or error.gone:
                    raise
                logger.warning("%s: %s %s refused: %s", namespace, kind, name, error)
                rejected.append(f"{kind} {name}: {error.message}")
        return rejected

    def _apply_one(self, child: dict[str, Any], observed: dict[str, Any] | None) -> None:
        resource = CHILDREN[child["kind"]]
        try:
            self.kube.apply(resource, child)
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
