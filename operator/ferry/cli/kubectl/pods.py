"""The pods of a ModelDeployment, one row each, with why any of them does not answer. Pure."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ferry.api import labels
from ferry.api.status import ModelDeploymentStatus
from ferry.cli.kubectl.table import Section, age, parse_time
from ferry.reconcile.observed import PodView, pod_view


def view(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> PodView:
    image = str((spec.get("runtime") or {}).get("image") or "")
    gpu = str((spec.get("resources") or {}).get("gpuResourceName") or "nvidia.com/gpu")
    return pod_view(dict(pod), image, gpu)


def not_ready_reason(view: PodView, pod: Mapping[str, Any]) -> str:
    """Why a pod does not answer, most specific first (the operator's own readings)."""
    prefix = f"pod {view.name}: "
    for failure in (view.artifact_failure, view.container_failure):
        if failure is not None:
            return f"{failure.reason}: {failure.message.removeprefix(prefix)}"
    if view.deleting:
        return "terminating"
    if view.unschedulable:
        return f"Unschedulable: {view.unschedulable}"
    if not view.node:
        return "waiting to be scheduled"
    if not view.fetched:
        return "fetching and verifying the artifact"
    conditions = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
    ready = conditions.get("Ready") or {}
    detail = ": ".join(p for p in (ready.get("reason"), ready.get("message")) if p)
    return f"loading the model ({detail})" if detail else "loading the model"


def pods_section(
    status: ModelDeploymentStatus,
    views: Sequence[PodView],
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Section:
    canary = status.rollout.revision if status.rollout else ""
    rows = []
    for view, pod in sorted(zip(views, pods, strict=True), key=lambda vp: vp[0].name):
        role = ("stable" if view.revision == status.stable_revision
                else "canary" if view.revision == canary else "old")  # fmt: skip
        restarts = sum(
            int(c.get("restartCount") or 0)
            for c in (pod.get("status") or {}).get("containerStatuses") or []
        )
        created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
        reason = "" if view.ready else not_ready_reason(view, pod)
        rows.append((view.name, role, "yes" if view.ready else "no", str(restarts),
                     age(created, now), reason))  # fmt: skip
    return Section(
        "Pods",
        ("NAME", "ROLE", "READY", "RESTARTS", "AGE", "REASON"),
        tuple(rows),
        note=f"label {labels.MODEL_DEPLOYMENT}",
        empty="no pods",
    )
