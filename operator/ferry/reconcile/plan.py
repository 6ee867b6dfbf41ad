"""The reconcile decision: (ModelDeployment, observed world, clock) -> writes, status, events.

Pure: the caller reads the world, calls `decide`, and carries out the plan in order
(apply children, write status, post events, delete stale children). Deleting last means a
revision is only removed after the status that stops relying on it has been recorded.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ferry.api import labels
from ferry.api.parse import ModelDeployment, SpecError, parse_model_deployment, parse_status
from ferry.api.status import ModelDeploymentStatus
from ferry.build.children import desired_children
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.reconcile import conditions as c
from ferry.reconcile.drift import needs_apply
from ferry.reconcile.observed import deployment_view, pod_view
from ferry.reconcile.status import Observation, evaluate, stable_after

# Kinds that exist once per revision; the others exist once per ModelDeployment.
REVISION_KINDS = ("Deployment", "ConfigMap")


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


@dataclass(frozen=True)
class Plan:
    apply: tuple[dict[str, Any], ...] = ()
    status: dict[str, Any] | None = None  # None: the recorded status is already right
    events: tuple[c.EventSpec, ...] = ()
    delete: tuple[ChildRef, ...] = ()
    revision: str = ""


def decide(
    body: dict[str, Any],
    world: World,
    now: datetime,
    operator: OperatorIdentity,
    apply_errors: Sequence[str] = (),
) -> Plan:
    previous = parse_status(body)
    try:
        md = parse_model_deployment(body)
    except SpecError as error:
        return _invalid_spec_plan(body, previous, str(error), now)
    owned = [o for o in world.children if _controlled_by(o, md.uid)]
    revision = revision_of(md)
    observed = {(o["kind"], o["metadata"]["name"]): o for o in owned}
    to_apply = tuple(
        child
        for child in desired_children(md, revision, operator)
        if needs_apply(child, observed.get((child["kind"], child["metadata"]["name"])))
    )
    seen = _observation(md, owned, world.pods)
    assessment = evaluate(
        md, revision=revision, previous=previous, seen=seen, apply_errors=apply_errors, now=now
    )
    return Plan(
        apply=to_apply,
        status=_if_changed(assessment.status, body),
        events=assessment.events,
        delete=() if apply_errors else _stale(md, revision, previous, seen, owned),
        revision=revision,
    )


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or ()
    )


def _observation(
    md: ModelDeployment, owned: Sequence[dict[str, Any]], pods: Sequence[dict[str, Any]]
) -> Observation:
    deployments = [deployment_view(o) for o in owned if o["kind"] == "Deployment"]
    return Observation(
        deployments={d.revision: d for d in deployments},
        pods=tuple(
            pod_view(p, md.spec.runtime.image)
            for p in pods
            if (p["metadata"].get("labels") or {}).get(labels.MODEL_DEPLOYMENT) == md.name
        ),
    )


def _stale(
    md: ModelDeployment,
    revision: str,
    previous: ModelDeploymentStatus,
    seen: Observation,
    owned: Sequence[dict[str, Any]],
) -> tuple[ChildRef, ...]:
    """Revisions that neither the spec nor the serving status needs, and an unneeded PDB."""
    keep = {revision, stable_after(md, revision, previous, seen)[0]}
    stale = []
    for obj in owned:
        kind, metadata = obj["kind"], obj["metadata"]
        revision_label = (metadata.get("labels") or {}).get(labels.REVISION)
        unneeded = (kind in REVISION_KINDS and revision_label not in keep) or (
            kind == "PodDisruptionBudget" and md.spec.replicas <= 1
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
    ]
    conditions = c.merge(previous.conditions, verdicts, generation, now)
    status = previous.model_copy(
        update={"observed_generation": generation, "conditions": conditions}
    )
    return Plan(
        status=_if_changed(status, body),
        events=tuple(c.transition_events(previous.conditions, verdicts)),
    )
