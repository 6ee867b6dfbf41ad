"""One reconcile of one ModelDeployment: read the world, decide (pure), carry out the plan."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ferry.api import labels
from ferry.build.network import OperatorIdentity
from ferry.kube.api import ApiError, KubeApi
from ferry.kube.events import event_object
from ferry.kube.resources import CHILDREN, EVENTS, MODEL_DEPLOYMENTS, PODS
from ferry.reconcile.drift import replacement
from ferry.reconcile.plan import Plan, World, decide

logger = logging.getLogger(__name__)

_INVALID = 422


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reconciler:
    kube: KubeApi
    operator: OperatorIdentity
    instance: str  # names the reporting operator instance in Events
    clock: Callable[[], datetime] = utc_now

    def reconcile(self, namespace: str, name: str) -> None:
        """Converge one ModelDeployment. Raises ApiError only for transient failures."""
        try:
            self._converge(namespace, name)
        except ApiError as error:
            if not error.gone:
                raise
            # The object or its namespace is being deleted: nothing is left to converge.

    def _converge(self, namespace: str, name: str) -> None:
        body = self.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return  # gone or going: garbage collection removes the children
        world = self.read_world(namespace, name)
        now = self.clock()
        plan = decide(body, world, now, self.operator)
        rejected = self._apply(namespace, plan, world)
        if rejected:
            plan = decide(body, world, now, self.operator, rejected)
        if plan.status is not None:
            self.kube.patch_status(MODEL_DEPLOYMENTS, namespace, name, plan.status)
            logger.info("%s/%s: status written (revision %s)", namespace, name, plan.revision)
        for event in plan.events:
            self._post(namespace, event_object(body, event, now, self.instance))
        for ref in plan.delete:
            self.kube.delete(CHILDREN[ref.kind], namespace, ref.name)
            logger.info("%s/%s: deleted %s %s", namespace, name, ref.kind, ref.name)

    def read_world(self, namespace: str, name: str) -> World:
        selector = f"{labels.MODEL_DEPLOYMENT}={name},{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
        return World(
            children=[
                o
                for r in CHILDREN.values()
                for o in self.kube.list_labelled(r, namespace, selector)
            ],
            pods=self.kube.list_labelled(PODS, namespace, selector),
        )

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
