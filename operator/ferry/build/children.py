"""Everything one ModelDeployment owns that is built from its spec."""

from dataclasses import dataclass
from typing import Any

from ferry.api.parse import ModelDeployment
from ferry.build.config import config_map
from ferry.build.disruption import pod_disruption_budget
from ferry.build.network import OperatorIdentity, network_policy, service
from ferry.build.traffic import http_route, role_service
from ferry.build.workload import deployment


@dataclass(frozen=True)
class Shape:
    """What the rollout decided: the target's replicas and who takes which traffic."""

    replicas: int  # of the target revision
    total: int  # of the whole ModelDeployment
    stable: str  # "" before any revision is stable
    canary: str
    canary_weight: int  # for an HTTPRoute


def desired_children(
    md: ModelDeployment, revision: str, shape: Shape, operator: OperatorIdentity
) -> list[dict[str, Any]]:
    """In apply order: the ConfigMap exists before pods that mount it are created.

    Only the target revision is built from the spec: older revisions cannot be rebuilt from
    it, so the reconcile only scales their Deployments.
    """
    children = [
        config_map(md, revision),
        deployment(md, revision, shape.replicas),
        service(md),
        network_policy(md, operator),
    ]
    budget = pod_disruption_budget(md, shape.total)
    if budget is not None:
        children.append(budget)
    route = http_route(md, shape.canary_weight)
    if route is not None:
        stable = shape.stable or revision
        children += [
            role_service(md, "stable", stable),
            role_service(md, "canary", shape.canary or stable),
            route,
        ]
    return children
