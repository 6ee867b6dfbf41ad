"""Everything one ModelDeployment owns, for the revision its spec describes."""

from typing import Any

from ferry.api.parse import ModelDeployment
from ferry.build.config import config_map
from ferry.build.disruption import pod_disruption_budget
from ferry.build.network import OperatorIdentity, network_policy, service
from ferry.build.workload import deployment


def desired_children(
    md: ModelDeployment, revision: str, operator: OperatorIdentity
) -> list[dict[str, Any]]:
    """In apply order: the ConfigMap exists before pods that mount it are created."""
    children = [
        config_map(md, revision),
        deployment(md, revision),
        service(md),
        network_policy(md, operator),
    ]
    budget = pod_disruption_budget(md)
    if budget is not None:
        children.append(budget)
    return children
