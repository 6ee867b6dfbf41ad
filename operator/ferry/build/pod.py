"""The pod template of one revision: containers, volumes, security and placement."""

from typing import Any, Final

from ferry.api.parse import ModelDeployment
from ferry.api.spec import Placement
from ferry.build import containers
from ferry.build.meta import revision_child_name, revision_labels, revision_selector_labels

# The serving image runs as this uid/gid (Pod Security `restricted`: never root).
RUN_AS_ID: Final = 1000

# GPU nodes are commonly tainted with this key (GKE, the NVIDIA GPU operator), MIG nodes
# included; a pod that asks for GPUs tolerates that taint.
GPU_TAINT_KEY: Final = "nvidia.com/gpu"


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "runAsGroup": RUN_AS_ID,
        "fsGroup": RUN_AS_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_template(md: ModelDeployment, revision: str) -> dict[str, Any]:
    spec = md.spec
    metadata: dict[str, Any] = {
        # Ferry's labels win; the API refuses reserved keys in spec.podMetadata anyway.
        "labels": {**spec.pod_metadata.labels, **revision_labels(md, revision)},
    }
    if spec.pod_metadata.annotations:
        metadata["annotations"] = dict(spec.pod_metadata.annotations)
    pod: dict[str, Any] = {
        # Model servers never talk to the Kubernetes API.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "initContainers": [containers.fetch_container(spec)],
        "containers": [containers.serve_container(spec)],
        "volumes": _volumes(md, revision),
    }
    if spec.runtime.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in spec.runtime.image_pull_secrets]
    pod.update(_placement(md, revision))
    return {"metadata": metadata, "spec": pod}


def _volumes(md: ModelDeployment, revision: str) -> list[dict[str, Any]]:
    spec = md.spec
    volumes: list[dict[str, Any]] = [
        {"name": containers.CONFIG_VOLUME,
         "configMap": {"name": revision_child_name(md.name, revision)}},
        {"name": containers.MODELS_VOLUME, "emptyDir": {}},
        {"name": containers.WORK_VOLUME, "emptyDir": {}},
        {"name": containers.TMP_VOLUME, "emptyDir": {}},
    ]  # fmt: skip
    token = spec.inference.client_token_secret_ref
    if token is not None:
        volumes.append({
            "name": containers.CLIENT_TOKEN_VOLUME,
            "secret": {"secretName": token.name, "items": [{"key": token.key, "path": "token"}]},
        })  # fmt: skip
    claim = containers.pvc_claim(spec.model.uri)
    if claim is not None:
        volumes.append({
            "name": containers.ARTIFACT_SOURCE_VOLUME,
            "persistentVolumeClaim": {"claimName": claim, "readOnly": True},
        })  # fmt: skip
    return volumes


def _placement(md: ModelDeployment, revision: str) -> dict[str, Any]:
    placement: Placement = md.spec.placement
    result: dict[str, Any] = {}
    if placement.node_selector:
        result["nodeSelector"] = dict(placement.node_selector)
    tolerations = [t.model_dump(by_alias=True, exclude_none=True) for t in placement.tolerations]
    resources = md.spec.resources
    if resources.gpu > 0:
        gpu_toleration = {
            "key": GPU_TAINT_KEY,
            "operator": "Exists",
            "effect": "NoSchedule",
        }
        if gpu_toleration not in tolerations:
            tolerations.append(gpu_toleration)
    if tolerations:
        result["tolerations"] = tolerations
    if placement.affinity:
        result["affinity"] = placement.affinity
    if placement.topology_spread_constraints:
        result["topologySpreadConstraints"] = [
            {
                "labelSelector": {"matchLabels": revision_selector_labels(md, revision)},
                **c.model_dump(by_alias=True, exclude_none=True),
            }
            for c in placement.topology_spread_constraints
        ]
    return result
