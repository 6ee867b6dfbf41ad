"""ModelDeployments on the real node, and what a user sees of them: pods, the Service's
ClusterIP, predictions, the agent.

`model_deployment()` starts from the manifest `ferry package` wrote for a version and adds
only what the real node needs: `spec.placement` from `RealNode.placement()` and small
requests (two model pods must fit its 2 CPUs). The serving image is left out, as the
packaged manifest leaves it: the operator's default CPU image (FERRY_SERVING_IMAGE_CPU) runs.
"""

import time
from dataclasses import dataclass
from typing import Any

import requests

from e2e.localcluster.realnode import RealNode
from ferry import contract
from ferry.api import labels
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments
from tests.pods.artifacts import PackagedModel

# Per model pod: two fit the real node's 2 allocatable CPUs with room for a client pod.
SMALL_RESOURCES = {"cpu": "200m", "memory": "1Gi"}
READY_SECONDS = 120  # a model pod is Ready in ~15-20 s on a quiet machine


def model_deployment(
    model: PackagedModel,
    node: RealNode,
    name: str = "podnet",
    *,
    replicas: int = 1,
    model_overrides: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """The packaged manifest of `model` on the real node; `spec` sets top-level spec fields
    (rollout=..., autoscaling=...), `model_overrides` fields of spec.model (probe, sha256)."""
    document = model.document()
    document["metadata"]["name"] = name
    body = document["spec"]
    body["model"].update(model_overrides or {})
    body.update(
        placement=node.placement(),
        resources={**body.get("resources", {}), **SMALL_RESOURCES},
        replicas=replicas,
        **spec,
    )
    return document


@dataclass(frozen=True)
class ModelPod:
    name: str
    ip: str
    ready: bool
    version: str  # the model version label of its revision
    revision: str


class RealModels(ModelDeployments):
    """ModelDeployments in one namespace, as their users see them on the real node."""

    def apply_md(self, document: dict[str, Any]) -> None:
        self.cluster.apply_manifest(
            {**document, "metadata": {**document["metadata"], "namespace": self.namespace}}
        )

    def pods(self, name: str) -> list[ModelPod]:
        """The model's pods that have an IP and are not being deleted."""
        selector = f"{labels.MODEL_DEPLOYMENT}={name}"
        found = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return [
            ModelPod(
                pod.metadata.name,
                pod.status.pod_ip,
                any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []),
                pod.metadata.labels.get(labels.VERSION, ""),
                pod.metadata.labels.get(labels.REVISION, ""),
            )
            for pod in found
            if pod.status.pod_ip and pod.metadata.deletion_timestamp is None
        ]

    def ready_pods(self, name: str, version: str | None = None) -> list[ModelPod]:
        return [p for p in self.pods(name) if p.ready and version in (None, p.version)]

    def cluster_ip(self, name: str) -> str:
        ip: str = self.core.read_namespaced_service(name, self.namespace).spec.cluster_ip
        return ip

    def prediction_url(self, name: str, model_name: str) -> str:
        """The inference URL through the Service's ClusterIP (there is no cluster DNS)."""
        return f"http://{self.cluster_ip(name)}/predictions/{model_name}"

    def wait_ready(self, name: str, timeout: float = READY_SECONDS) -> dict[str, Any]:
        """Until `Ready` is True; return the condition."""
        return self.wait_condition(name, "Ready", "True", "Serving", timeout=timeout)


def predict(
    url: str, rows: list[list[float]], timeout: float | tuple[float, float] = 10
) -> tuple[int, Any]:
    """POST one instance batch; (status, parsed JSON or text)."""
    answer = requests.post(url, json={"data": rows}, timeout=timeout)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text


def first_answer(url: str, rows: list[list[float]], within: float = 30) -> tuple[int, Any]:
    """The first HTTP answer to a prediction, retried while nothing answers: kube-proxy
    writes a Service's rules up to a second or so after its pods turn Ready. Each try
    connects within a second: a SYN sent before the rules exist is tracked by conntrack
    without the DNAT, so its retransmissions never reach a pod, however long one waits."""
    deadline = time.monotonic() + within
    while True:
        try:
            return predict(url, rows, timeout=(1, 10))
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def agent(pod: ModelPod, path: str) -> tuple[int, Any]:
    """GET the pod agent's `path` (/readyz, /stats) on the pod IP, as the operator does."""
    answer = requests.get(f"http://{pod.ip}:{contract.AGENT_PORT}{path}", timeout=10)
    return answer.status_code, answer.json()


def wait_single_ready_pod(models: RealModels, name: str, version: str) -> ModelPod:
    pods = eventually(
        lambda: models.ready_pods(name, version),
        lambda found: len(found) == 1,
        READY_SECONDS,
        f"one ready pod of {name} at version {version}",
    )
    return pods[0]
