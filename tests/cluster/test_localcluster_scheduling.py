"""The local control plane schedules by GPU like a real cluster.

World: the real local control plane (kube-apiserver, scheduler, controllers) with kwok nodes.
"""

from typing import Any

import pytest
from kubernetes import client

from tests.cluster.helpers import eventually

pytestmark = pytest.mark.cluster

GPU_NODES = {"gpu-node-0", "gpu-node-1"}


def _pod_spec(gpus: int, **extra: Any) -> client.V1PodSpec:
    resources = client.V1ResourceRequirements(
        limits={"nvidia.com/gpu": str(gpus)} if gpus else None
    )
    return client.V1PodSpec(
        containers=[
            client.V1Container(name="main", image="example.invalid/model:1", resources=resources)
        ],
        **extra,
    )


def test_gpu_deployment_lands_on_gpu_nodes_and_becomes_available(cluster, namespace):
    with cluster.api_client() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        labels = {"app": "gpu-model"}
        apps.create_namespaced_deployment(
            namespace,
            client.V1Deployment(
                metadata=client.V1ObjectMeta(name="gpu-model"),
                spec=client.V1DeploymentSpec(
                    replicas=3,
                    selector=client.V1LabelSelector(match_labels=labels),
                    template=client.V1PodTemplateSpec(
                        metadata=client.V1ObjectMeta(labels=labels), spec=_pod_spec(gpus=2)
                    ),
                ),
            ),
        )
        eventually(
            lambda: (
                apps.read_namespaced_deployment_status(
                    "gpu-model", namespace
                ).status.available_replicas
            ),
            lambda available: available == 3,
            what="3 available replicas",
        )
        pods = core.list_namespaced_pod(namespace, label_selector="app=gpu-model").items
        assert {p.spec.node_name for p in pods} <= GPU_NODES


def test_pod_asking_more_gpus_than_any_node_stays_unschedulable(core_api, namespace):
    core_api.create_namespaced_pod(
        namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="greedy"), spec=_pod_spec(gpus=9))
    )

    def scheduled_condition() -> Any:
        conditions = core_api.read_namespaced_pod("greedy", namespace).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled"), None)

    condition = eventually(
        scheduled_condition, lambda c: c is not None, what="PodScheduled condition"
    )
    assert condition.status == "False"
    assert condition.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition.message
    assert core_api.read_namespaced_pod("greedy", namespace).status.phase == "Pending"


def _create_on_cpu_node(core_api, namespace: str, name: str, gpus: int) -> None:
    core_api.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=_pod_spec(gpus=gpus, node_selector={"kubernetes.io/hostname": "cpu-node-0"}),
        ),
    )


def test_pod_without_gpus_runs_on_the_cpu_node(core_api, namespace):
    _create_on_cpu_node(core_api, namespace, "cpu-only", gpus=0)
    pod = eventually(
        lambda: core_api.read_namespaced_pod("cpu-only", namespace),
        lambda p: p.status.phase == "Running",
        what="the CPU pod to run",
    )
    assert pod.spec.node_name == "cpu-node-0"


def test_gpu_pod_cannot_land_on_the_cpu_node(core_api, namespace):
    _create_on_cpu_node(core_api, namespace, "gpu-on-cpu", gpus=1)
    pod = eventually(
        lambda: core_api.read_namespaced_pod("gpu-on-cpu", namespace),
        lambda p: any(c.type == "PodScheduled" for c in p.status.conditions or []),
        what="a scheduling decision",
    )
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name is None
