"""Names, labels and owner references shared by every child of a ModelDeployment."""

from typing import Any

from ferry import API_GROUP, API_VERSION, KIND
from ferry.api import labels
from ferry.api.parse import ModelDeployment


def revision_child_name(md_name: str, revision: str) -> str:
    """The Deployment and ConfigMap of one revision share this name."""
    return f"{md_name}-{revision}"


def selector_labels(md: ModelDeployment) -> dict[str, str]:
    """Selects every pod of the ModelDeployment, whatever its revision."""
    return {labels.MODEL_DEPLOYMENT: md.name}


def revision_selector_labels(md: ModelDeployment, revision: str) -> dict[str, str]:
    return {**selector_labels(md), labels.REVISION: revision}


def common_labels(md: ModelDeployment) -> dict[str, str]:
    return {
        **selector_labels(md),
        labels.NAME: md.spec.model.name,
        labels.INSTANCE: md.name,
        labels.COMPONENT: labels.COMPONENT_VALUE,
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
    }


def revision_labels(md: ModelDeployment, revision: str) -> dict[str, str]:
    return {
        **common_labels(md),
        labels.REVISION: revision,
        labels.VERSION: md.spec.model.version,
    }


def object_meta(md: ModelDeployment, name: str, object_labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": md.namespace,
        "labels": object_labels,
        "ownerReferences": [
            {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": KIND,
                "name": md.name,
                "uid": md.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
