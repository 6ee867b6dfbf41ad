"""Values of charts/ferry for the local cluster: the images built here, the real node to run
on (the other nodes are simulated), shorter delays. Used by `make demo` and the e2e tier."""

from typing import Any

from e2e.images import OPERATOR_IMAGE, SERVING_IMAGE
from e2e.localcluster import ClusterAccess


def local_values(cluster: ClusterAccess, **operator: float) -> dict[str, Any]:
    """`operator`: settings of the chart's `operator` block (resyncSeconds, ...)."""
    repository, _, tag = OPERATOR_IMAGE.rpartition(":")
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "servingImages": {"cpu": SERVING_IMAGE},
        "operator": {"resyncSeconds": 10, "retryBackoffSeconds": 1, **operator},
        **cluster.real_node.placement(),
    }
