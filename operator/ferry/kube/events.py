"""Kubernetes Events about a ModelDeployment (core/v1, so `kubectl describe` shows them)."""

from datetime import datetime
from typing import Any

from ferry.api.status import rfc3339
from ferry.reconcile.conditions import EventSpec

REPORTING_COMPONENT = "serving.ferry.dev/operator"


def event_object(
    md: dict[str, Any], spec: EventSpec, now: datetime, instance: str
) -> dict[str, Any]:
    metadata = md["metadata"]
    stamp = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": md["apiVersion"],
            "kind": md["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        },
        "type": spec.type,
        "reason": spec.reason,
        "message": spec.message,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "ferry"},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": instance,
    }
