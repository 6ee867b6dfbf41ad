"""ModelDeployment objects for the operator's unit tests, shaped as the API server returns them."""

import copy
from typing import Any

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def model_deployment(name: str = "resnet", **spec: Any) -> dict[str, Any]:
    """A valid object; keyword arguments replace top-level spec fields."""
    body: dict[str, Any] = {
        "apiVersion": "serving.ferry.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "ml", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "model": {
                "name": "resnet50",
                "version": "2.1.0",
                "uri": "s3://models/resnet50/2.1.0/resnet50.mar",
                "sha256": SHA,
            },
            "runtime": {"image": "ghcr.io/ferry/torchserve:0.12.0-cpu"},
            "resources": {"cpu": "2", "memory": "4Gi"},
            "replicas": 2,
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def with_spec(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with spec field `path` (dotted) set to `value`."""
    changed = copy.deepcopy(body)
    node = changed["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return changed


def deployment(
    md: str, revision: str, *, replicas: int = 2, ready: int = 2, deadline: bool = False
) -> dict[str, Any]:
    """A child Deployment as observed, with the status the Deployment controller writes."""
    conditions = []
    if deadline:
        conditions.append(
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{md}-{revision}-abc" has timed out progressing.',
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{md}-{revision}",
            "generation": 1,
            "labels": {
                "serving.ferry.dev/model-deployment": md,
                "serving.ferry.dev/revision": revision,
                "app.kubernetes.io/version": "2.1.0",
            },
            "ownerReferences": [{"uid": f"uid-{md}", "controller": True}],
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": ready,
            "conditions": conditions,
        },
    }


def pod(md: str, revision: str, name: str, **status: Any) -> dict[str, Any]:
    """A pod as kwok reports it; `status` replaces top-level status fields."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "serving.ferry.dev/model-deployment": md,
                "serving.ferry.dev/revision": revision,
            },
        },
        "status": {"phase": "Pending", "conditions": []},
    }
    body["status"].update(status)
    return body


def fetched() -> list[dict[str, Any]]:
    """The fetch init container's status once it verified and stored the artifact."""
    return [{"name": "fetch", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]


def ready_pod(md: str, revision: str, name: str) -> dict[str, Any]:
    return pod(
        md,
        revision,
        name,
        phase="Running",
        conditions=[
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        initContainerStatuses=fetched(),
    )


def fetch_failed_pod(md: str, revision: str, name: str, code: int, message: str) -> dict[str, Any]:
    return pod(
        md,
        revision,
        name,
        conditions=[{"type": "PodScheduled", "status": "True"}],
        initContainerStatuses=[
            {
                "name": "fetch",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": code, "message": message}},
            }
        ],
    )


def unschedulable_pod(md: str, revision: str, name: str, message: str) -> dict[str, Any]:
    return pod(
        md,
        revision,
        name,
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    )


def crash_looping_pod(
    md: str, revision: str, name: str, last_reason: str = "Error"
) -> dict[str, Any]:
    return pod(
        md,
        revision,
        name,
        phase="Running",
        conditions=[
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False"},
        ],
        initContainerStatuses=fetched(),
        containerStatuses=[
            {
                "name": "torchserve",
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": last_reason}},
            }
        ],
    )
