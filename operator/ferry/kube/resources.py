"""The API resources Ferry reads and writes."""

from typing import Final

from ferry import API_GROUP, API_VERSION, KIND, PLURAL
from ferry.kube.api import Resource

MODEL_DEPLOYMENTS: Final = Resource(f"{API_GROUP}/{API_VERSION}", KIND, PLURAL)
CONFIG_MAPS: Final = Resource("v1", "ConfigMap", "configmaps")
SERVICES: Final = Resource("v1", "Service", "services")
PODS: Final = Resource("v1", "Pod", "pods")
NODES: Final = Resource("v1", "Node", "nodes")
EVENTS: Final = Resource("v1", "Event", "events")
DEPLOYMENTS: Final = Resource("apps/v1", "Deployment", "deployments")
NETWORK_POLICIES: Final = Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
POD_DISRUPTION_BUDGETS: Final = Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
HTTP_ROUTES: Final = Resource("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")

# Everything a ModelDeployment owns, by kind.
CHILDREN: Final = {
    r.kind: r
    for r in (
        CONFIG_MAPS,
        DEPLOYMENTS,
        SERVICES,
        NETWORK_POLICIES,
        POD_DISRUPTION_BUDGETS,
        HTTP_ROUTES,
    )
}
