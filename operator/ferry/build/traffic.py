"""Gateway API traffic split: an HTTPRoute over a stable and a canary Service.

With `spec.traffic.httpRoute` the route carries the rollout step's exact weight, whatever
the replica counts; the ModelDeployment's own Service still spreads over every ready pod.
"""

from typing import Any, Final

from ferry import contract
from ferry.api import labels
from ferry.api.parse import ModelDeployment
from ferry.build.meta import common_labels, object_meta, selector_labels
from ferry.build.network import SERVICE_PORT

GATEWAY_API_VERSION: Final = "gateway.networking.k8s.io/v1"


def role_service_name(md_name: str, role: str) -> str:
    return f"{md_name}-{role}"


def role_service(md: ModelDeployment, role: str, revision: str) -> dict[str, Any]:
    """A Service selecting one revision's pods: `stable` or `canary`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(md, role_service_name(md.name, role), common_labels(md)),
        "spec": {
            "type": "ClusterIP",
            "selector": {**selector_labels(md), labels.REVISION: revision},
            "ports": [{"name": contract.FRONT_PORT_NAME, "port": SERVICE_PORT,
                       "targetPort": contract.FRONT_PORT_NAME, "protocol": "TCP",
                       "appProtocol": "http"}],
        },
    }  # fmt: skip


def http_route(md: ModelDeployment, canary_weight: int) -> dict[str, Any] | None:
    route = md.spec.traffic.http_route
    if route is None:
        return None
    spec: dict[str, Any] = {"parentRefs": route.parent_refs}
    if route.hostnames:
        spec["hostnames"] = route.hostnames
    spec["rules"] = [{"backendRefs": [
        {"group": "", "kind": "Service", "name": role_service_name(md.name, "stable"),
         "port": SERVICE_PORT, "weight": 100 - canary_weight},
        {"group": "", "kind": "Service", "name": role_service_name(md.name, "canary"),
         "port": SERVICE_PORT, "weight": canary_weight},
    ]}]  # fmt: skip
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": object_meta(md, md.name, common_labels(md)),
        "spec": spec,
    }
