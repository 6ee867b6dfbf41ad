"""Free GPU capacity for new pods: allocatable minus what pods on the node request. Pure.

Nodes count when a pod of the new revision could land there by its nodeSelector and
tolerations (node affinity and topology spread are not modelled: the scheduler still has
the last word, and a pod it cannot place shows as Unschedulable). Pods being deleted count
as free: their GPUs are about to be released, and counting them as used would make a
rollout that is stepping the stable revision down step it down again.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TERMINAL = ("Succeeded", "Failed")
_BLOCKING = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class Room:
    slots: int  # more such pods that fit now
    fits: bool  # one such pod fits some eligible node at all (were it empty)


def room_for(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    *,
    resource: str,
    per_pod: int,
    pod_spec: Mapping[str, Any],
) -> Room:
    """Room for pods asking `per_pod` of `resource` (with `pod_spec`'s placement)."""
    used: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and _holds_resources(pod):
            used[node] = used.get(node, 0) + requested(pod.get("spec") or {}, resource)
    slots, fits = 0, False
    for node in nodes:
        if not _eligible(node, pod_spec):
            continue
        name = node["metadata"]["name"]
        allocatable = _count(((node.get("status") or {}).get("allocatable") or {}).get(resource))
        slots += max(0, allocatable - used.get(name, 0)) // per_pod
        fits = fits or allocatable >= per_pod
    return Room(slots, fits)


def requested(pod_spec: Mapping[str, Any], resource: str) -> int:
    """The pod's effective request of an extended resource (the scheduler's rule)."""

    def amount(container: Mapping[str, Any]) -> int:
        resources = container.get("resources") or {}
        return max(
            _count((resources.get("requests") or {}).get(resource)),
            _count((resources.get("limits") or {}).get(resource)),
        )

    running = sum(amount(c) for c in pod_spec.get("containers") or ())
    init = max((amount(c) for c in pod_spec.get("initContainers") or ()), default=0)
    return max(running, init)


def _holds_resources(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") not in _TERMINAL and not pod["metadata"].get("deletionTimestamp")


def _eligible(node: Mapping[str, Any], pod_spec: Mapping[str, Any]) -> bool:
    spec, metadata = node.get("spec") or {}, node["metadata"]
    if spec.get("unschedulable"):
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return False
    labels = metadata.get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        _tolerated(taint, tolerations)
        for taint in spec.get("taints") or ()
        if taint.get("effect") in _BLOCKING
    )


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        key = toleration.get("key")
        if toleration.get("operator") == "Exists":
            if key in (None, "", taint.get("key")):
                return True
        elif key == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _count(quantity: Any) -> int:
    """Extended resources are whole numbers ("8"); anything else counts as none."""
    try:
        return int(str(quantity))
    except ValueError:
        return 0
