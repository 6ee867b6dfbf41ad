"""Simulated nodes: two GPU nodes and one CPU node, as a small GPU cluster has."""

from typing import Any

GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def node_manifest(name: str, gpus: int = 0, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Node kwok will run. Capacity is set on create; kwok keeps it from then on."""
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
        node_labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": GPU_PRODUCT,
            "nvidia.com/gpu.count": str(gpus),
        }
    node_labels |= labels or {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels,
            "annotations": {KWOK_NODE_ANNOTATION: "fake"},
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


DEFAULT_NODES: tuple[tuple[str, int], ...] = (
    ("gpu-node-0", 8),
    ("gpu-node-1", 8),
    ("cpu-node-0", 0),
)
