"""The real kubelet node as tests see it: its name, addresses, and how a pod gets onto it."""

from dataclasses import dataclass
from typing import Any

from e2e.localcluster.slots import Slot

NODE_NAME = "real-node-0"
NODE_LABEL = ("ferry.dev/real-node", "true")
NODE_TAINT = (*NODE_LABEL, "NoSchedule")  # key, value, effect


@dataclass(frozen=True)
class RealNode:
    """A kubelet + containerd node running real containers, next to the kwok nodes."""

    name: str
    node_ip: str  # the node's InternalIP
    host_ip: str  # the host's address that pods reach: serve model artifacts here
    pod_cidr: str  # real pods' IPs; the host routes it to the node
    service_cidr: str  # ClusterIPs; the host routes it to the node (kube-proxy answers)
    label: tuple[str, str]  # key, value: select the node with it
    taint: tuple[str, str, str]  # key, value, effect: tolerate it

    @classmethod
    def of(cls, slot: Slot) -> "RealNode":
        return cls(
            name=NODE_NAME,
            node_ip=slot.node_ip,
            host_ip=slot.host_ip,
            pod_cidr=slot.pod_cidr,
            service_cidr=slot.service_cidr,
            label=NODE_LABEL,
            taint=NODE_TAINT,
        )

    def placement(self) -> dict[str, Any]:
        """`nodeSelector` and `tolerations` putting a pod on this node: merge into a pod spec,
        or use as a ModelDeployment's `spec.placement`."""
        key, value, effect = self.taint
        return {
            "nodeSelector": {self.label[0]: self.label[1]},
            "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": effect}],
        }
