"""The Deployment of one revision, and the revision hash that names it."""

import hashlib
import json
from typing import Any, Final

from ferry.api.parse import ModelDeployment
from ferry.build.config import config_data
from ferry.build.meta import (
    object_meta,
    revision_child_name,
    revision_labels,
    revision_selector_labels,
)
from ferry.build.pod import pod_template

# One disruption budget for rolling updates, the PDB and the Ready condition.
MAX_UNAVAILABLE_PERCENT: Final = 25
REVISION_LENGTH: Final = 10
# Consonants only: a revision never reads as a number or a word to any YAML parser or
# person ("4e12345678" is a float to Go's YAML); 20**10 values are plenty per object.
_REVISION_ALPHABET: Final = "bcdfghjklmnpqrstvwxz"
# Stands in for the revision while hashing the pod template that will carry it.
_UNHASHED: Final = "revision"


def revision_of(md: ModelDeployment) -> str:
    """A stable hash of everything that reaches the pods (template and configuration).

    Replicas, the Service, the NetworkPolicy and the PDB do not take part: changing them
    never restarts a pod.
    """
    material = [pod_template(md, _UNHASHED), config_data(md)]
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    number = int.from_bytes(hashlib.sha256(encoded).digest())
    letters = []
    for _ in range(REVISION_LENGTH):
        number, index = divmod(number, len(_REVISION_ALPHABET))
        letters.append(_REVISION_ALPHABET[index])
    return "".join(letters)


def deployment(md: ModelDeployment, revision: str, replicas: int) -> dict[str, Any]:
    budget = f"{MAX_UNAVAILABLE_PERCENT}%"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(
            md, revision_child_name(md.name, revision), revision_labels(md, revision)
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": revision_selector_labels(md, revision)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": budget, "maxUnavailable": budget},
            },
            # A revision's template never changes: older ReplicaSets are only drift.
            "revisionHistoryLimit": 0,
            "progressDeadlineSeconds": md.spec.rollout.progress_deadline_seconds,
            "template": pod_template(md, revision),
        },
    }
