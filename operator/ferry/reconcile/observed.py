"""Plain views of observed Deployments and pods: only the facts status decisions need."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ferry import contract
from ferry.api import labels
from ferry.reconcile.artifact import fetch_failure
from ferry.reconcile.failure import Failure, truncate
from ferry.rollout.capacity import requested


@dataclass(frozen=True)
class DeploymentView:
    name: str
    revision: str
    model_version: str
    desired: int  # spec.replicas
    image: str  # of the serving container
    replicas: int
    ready_replicas: int
    current: bool  # the Deployment controller has observed its latest spec
    deadline_exceeded: bool
    progress_message: str
    create_failure: str  # why the ReplicaSet cannot create pods (quota, Pod Security), or ""


@dataclass(frozen=True)
class PodView:
    name: str
    revision: str
    ready: bool
    deleting: bool  # has a deletionTimestamp: its resources are about to be released
    node: str  # where it is bound, or ""
    ip: str  # pod IP, where the agent answers
    gpus: int  # of the ModelDeployment's GPU resource
    serving: bool  # the serving container runs (its agent can answer)
    unschedulable: str  # the scheduler's message while the pod cannot be placed, or ""
    fetched: bool  # the fetch init container verified and stored the artifact
    artifact_failure: Failure | None  # ferry-fetch exited non-zero
    container_failure: Failure | None  # image pull, missing Secret, crash loop


def deployment_view(obj: dict[str, Any]) -> DeploymentView:
    metadata, status = obj["metadata"], obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    replica_failure = conditions.get("ReplicaFailure") or {}
    object_labels = metadata.get("labels") or {}
    return DeploymentView(
        name=metadata["name"],
        revision=object_labels.get(labels.REVISION, ""),
        model_version=object_labels.get(labels.VERSION, ""),
        desired=int((obj.get("spec") or {}).get("replicas") or 0),
        image=_serving_image(obj),
        replicas=int(status.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        current=int(status.get("observedGeneration") or 0) >= int(metadata.get("generation") or 0),
        deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        progress_message=truncate(progressing.get("message") or ""),
        create_failure=truncate(replica_failure.get("message") or "")
        if replica_failure.get("status") == "True"
        else "",
    )


def _serving_image(deployment: dict[str, Any]) -> str:
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    serving = _container_status(template.get("containers"), contract.SERVE_CONTAINER)
    return str(serving.get("image") or "")


def pod_view(obj: dict[str, Any], image: str, gpu_resource: str) -> PodView:
    metadata, status = obj["metadata"], obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    unschedulable = ""
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        unschedulable = truncate(scheduled.get("message") or "no node fits the pod")
    name = metadata["name"]
    fetch = _container_status(status.get("initContainerStatuses"), contract.FETCH_CONTAINER)
    serve = _container_status(status.get("containerStatuses"), contract.SERVE_CONTAINER)
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    return PodView(
        name=name,
        revision=(metadata.get("labels") or {}).get(labels.REVISION, ""),
        ready=ready,
        deleting=bool(metadata.get("deletionTimestamp")),
        node=(obj.get("spec") or {}).get("nodeName") or "",
        ip=status.get("podIP") or "",
        gpus=requested(obj.get("spec") or {}, gpu_resource),
        serving="running" in (serve.get("state") or {}),
        unschedulable=unschedulable,
        fetched=ready or _terminated(fetch).get("exitCode") == 0,
        artifact_failure=fetch_failure(name, _last_exit(fetch)),
        container_failure=_waiting_failure(name, fetch, image)
        or _waiting_failure(name, serve, image),
    )


def _container_status(statuses: Iterable[dict[str, Any]] | None, name: str) -> dict[str, Any]:
    return next((s for s in statuses or () if s.get("name") == name), {})


def _terminated(container: dict[str, Any]) -> dict[str, Any]:
    terminated: dict[str, Any] = (container.get("state") or {}).get("terminated") or {}
    return terminated


def _last_exit(container: dict[str, Any]) -> dict[str, Any]:
    """The latest termination: the current state, else the one before a restart."""
    return _terminated(container) or (container.get("lastState") or {}).get("terminated") or {}


def _waiting_failure(pod: str, container: dict[str, Any], image: str) -> Failure | None:
    waiting = (container.get("state") or {}).get("waiting") or {}
    reason, name = waiting.get("reason"), container.get("name", "")
    if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
        return Failure(
            "ImagePullFailed",
            f"pod {pod}: cannot pull spec.runtime.image {image!r}; "
            "check the image name and spec.runtime.imagePullSecrets",
        )
    if reason == "CreateContainerConfigError":
        return Failure(
            "ContainerConfigError",
            truncate(f"pod {pod}: container {name}: {waiting.get('message', '')}; check "
                     "spec.model.credentialsSecretRef and spec.inference.clientTokenSecretRef"),
        )  # fmt: skip
    if reason == "CrashLoopBackOff":
        last = (container.get("lastState") or {}).get("terminated") or {}
        detail = f"last exit code {last.get('exitCode', '?')} ({last.get('reason', 'Error')})"
        if last.get("reason") == "OOMKilled":
            detail += "; raise spec.resources.memory"
        return Failure("CrashLoop", f"pod {pod}: container {name} keeps crashing: {detail}")
    return None
