"""The PodDisruptionBudget, only when there is more than one replica to protect."""

from typing import Any

from ferry.api.parse import ModelDeployment
from ferry.build.meta import common_labels, object_meta, selector_labels
from ferry.build.workload import MAX_UNAVAILABLE_PERCENT


def pod_disruption_budget(md: ModelDeployment, total: int) -> dict[str, Any] | None:
    if total <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(md, md.name, common_labels(md)),
        "spec": {
            "maxUnavailable": f"{MAX_UNAVAILABLE_PERCENT}%",
            "selector": {"matchLabels": selector_labels(md)},
            # A pod that never got Ready must not block node drains.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
