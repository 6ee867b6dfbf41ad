"""The inference Service and the NetworkPolicy that fences the pods."""

from dataclasses import dataclass, field
from typing import Any, Final

from ferry import contract
from ferry.api.parse import ModelDeployment
from ferry.build.meta import common_labels, object_meta, selector_labels

SERVICE_PORT: Final = 80


@dataclass(frozen=True)
class OperatorIdentity:
    """Where the operator's pods run: the only peers admitted to the agent port."""

    namespace: str
    pod_labels: dict[str, str] = field(default_factory=dict)


def inference_url(md: ModelDeployment) -> str:
    return f"http://{md.name}.{md.namespace}.svc/predictions/{md.spec.model.name}"


def service(md: ModelDeployment) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(md, md.name, common_labels(md)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(md),
            "ports": [
                {
                    "name": contract.FRONT_PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": contract.FRONT_PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def network_policy(md: ModelDeployment, operator: OperatorIdentity) -> dict[str, Any]:
    inference: dict[str, Any] = {"ports": [{"port": contract.FRONT_PORT, "protocol": "TCP"}]}
    if md.spec.inference.allowed_sources:
        inference["from"] = md.spec.inference.allowed_sources
    operator_peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": operator.namespace}}
    }
    if operator.pod_labels:
        operator_peer["podSelector"] = {"matchLabels": dict(operator.pod_labels)}
    agent = {
        "ports": [{"port": contract.AGENT_PORT, "protocol": "TCP"}],
        "from": [operator_peer],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(md, md.name, common_labels(md)),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(md)},
            "policyTypes": ["Ingress"],
            # Kubelet probes are not subject to NetworkPolicy; everything else is.
            "ingress": [inference, agent],
        },
    }
