"""Ferry's autoscaler in the reconcile: the replica total, and one evaluation. Pure.

With `spec.autoscaling` the total lives in `status.autoscaling.desiredReplicas` (the spec
is never written: GitOps) and `spec.replicas` is ignored; without it the total is
`spec.replicas`, which `kubectl scale`, an HPA or KEDA set through the scale subresource.
Either way the rollout machine splits the total between stable and canary by the step's
weight, so load added during a canary adds pods to both revisions in proportion.

Per-pod figures come from two counter snapshots an evaluation apart (mean concurrency by
Little's law, request rate, mean queue wait). GPU room is judged from what the scheduler
already said: while a pod waits for lack of the GPU resource, no replica beyond those
placed is asked for, so a shortfall never ratchets the target up (no node list needed).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ferry import API_GROUP, KIND
from ferry.api.autoscaling import Autoscaling
from ferry.api.parse import ModelDeployment
from ferry.api.status import AutoscalingStatus, ModelDeploymentStatus
from ferry.health.stats import PodStats, WindowFigures, window
from ferry.reconcile import conditions as c
from ferry.reconcile.observed import PodView
from ferry.scaling.decide import GpuRoom, decide
from ferry.scaling.memory import Memory
from ferry.scaling.policy import Metric
from ferry.scaling.proposal import PodSample

CONFLICT = "AutoscalerConflict"  # a condition, only with spec.autoscaling


def total_replicas(md: ModelDeployment, previous: ModelDeploymentStatus) -> int:
    """The replica count the ModelDeployment should have now, in all revisions."""
    autoscaling = md.spec.autoscaling
    if autoscaling is None:
        return md.spec.replicas
    recorded = previous.autoscaling
    start = recorded.desired_replicas if recorded is not None else md.spec.replicas
    return autoscaling.policy().bounded(start)


@dataclass(frozen=True)
class Sample:
    """Counters of one pod now, and an evaluation ago (None: not seen then)."""

    now: PodStats
    before: PodStats | None
    seconds: float


@dataclass(frozen=True)
class Evaluation:
    total: int
    status: AutoscalingStatus
    memory: Memory
    events: tuple[c.EventSpec, ...]


def evaluate(
    md: ModelDeployment,
    autoscaling: Autoscaling,
    *,
    previous: ModelDeploymentStatus,
    pods: Sequence[PodView],
    samples: Mapping[str, Sample],
    memory: Memory | None,
    now: datetime,
) -> Evaluation:
    """One evaluation of `md`'s `spec.autoscaling` over the serving revisions' pods
    (`samples` by pod name)."""
    policy = autoscaling.policy()
    current = total_replicas(md, previous)
    live = [p for p in pods if not p.deleting]
    decision = decide(
        policy,
        current=current,
        pods=[
            PodSample(
                p.ready, _value(autoscaling.metric, samples[p.name]) if p.name in samples else None
            )
            for p in live
        ],
        now=now,
        memory=memory,
        gpu=_gpu_room(md, live),
    )
    recorded = previous.autoscaling
    status = AutoscalingStatus(
        desired_replicas=decision.desired,
        metric_value=None if decision.metric_value is None else round(decision.metric_value, 3),
        last_scale_time=now
        if decision.changed
        else (recorded.last_scale_time if recorded else None),
        reason=decision.reason,
    )
    if recorded is not None and not decision.changed and _close(autoscaling, recorded, status):
        status = recorded  # nothing a reader would act on changed: no status write
    events = (c.EventSpec("Normal", "Scaled", decision.reason),) if decision.changed else ()
    return Evaluation(decision.desired, status, decision.memory, events)


def _value(metric: Metric, sample: Sample) -> float | None:
    if sample.before is None:
        return None  # no window yet: HPA's rules count it as unmeasured
    figures: WindowFigures = window(sample.before, sample.now, sample.seconds)
    if metric == "concurrency":
        return figures.mean_concurrency
    if metric == "requestsPerSecond":
        return figures.request_rate
    return figures.mean_queue_ms or 0.0  # no request waited: no queue


def _gpu_room(md: ModelDeployment, pods: Sequence[PodView]) -> GpuRoom | None:
    resources = md.spec.resources
    waiting = any(f"Insufficient {resources.gpu_resource_name}" in p.unschedulable for p in pods)
    if resources.gpu == 0 or not waiting:
        return None
    placed = sum(bool(p.node) for p in pods)
    return GpuRoom(free=0, per_replica=resources.gpu, placed=placed,
                   resource=resources.gpu_resource_name)  # fmt: skip


def _close(spec: Autoscaling, recorded: AutoscalingStatus, new: AutoscalingStatus) -> bool:
    """Within the tolerance band of what status already says."""
    if recorded.desired_replicas != new.desired_replicas:
        return False
    if recorded.metric_value is None or new.metric_value is None:
        return recorded.metric_value == new.metric_value
    return abs(new.metric_value - recorded.metric_value) <= spec.tolerance * spec.target


def conflict(md: ModelDeployment, autoscalers: Sequence[Mapping[str, Any]]) -> c.Verdict | None:
    """With spec.autoscaling, an HPA (or KEDA's) that also targets this object is reported."""
    if md.spec.autoscaling is None:
        return None
    rivals = sorted(
        f"{(hpa.get('metadata') or {}).get('name')}"
        for hpa in autoscalers
        if _targets(hpa, md.name)
    )
    if not rivals:
        return c.Verdict(CONFLICT, "False", "NoOtherAutoscaler", "spec.autoscaling alone decides")
    return c.Verdict(
        CONFLICT,
        "True",
        "HorizontalPodAutoscaler",
        f"HorizontalPodAutoscaler {', '.join(rivals)} also targets this ModelDeployment; "
        "spec.autoscaling decides its replicas and spec.replicas (what the HPA sets) is "
        "ignored: remove the HPA or spec.autoscaling",
        failure=True,
    )


def _targets(hpa: Mapping[str, Any], name: str) -> bool:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    group = str(ref.get("apiVersion", "")).split("/")[0]
    return (ref.get("kind"), ref.get("name"), group) == (KIND, name, API_GROUP)
