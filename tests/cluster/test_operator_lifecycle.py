"""A ModelDeployment's life: examples reach Ready, printer columns, scale, delete.

World: the local control plane (real API server, controllers, scheduler; kwok stands in for
kubelets, so pods turn Ready without running a container). The operator runs as a local
process with the chart's ServiceAccount token.
"""

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.demo_operator import REPO
from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually, table_rows
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

CPU_EXAMPLE = REPO / "examples" / "cpu-model.yaml"
GPU_EXAMPLE = REPO / "examples" / "gpu-model.yaml"


def test_examples_reach_ready_with_their_children(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(CPU_EXAMPLE)
    models.apply(GPU_EXAMPLE)
    cluster.kubectl(
        "wait", "-n", models.namespace, "--for=condition=Ready", "md/tiny-mlp", "md/resnet50",
        "--timeout=90s",
    )  # fmt: skip
    status = models.get("resnet50")["status"]
    assert status["readyReplicas"] == 2
    assert status["modelVersion"] == "2.1.0"
    assert status["url"] == f"http://resnet50.{models.namespace}.svc/predictions/resnet50"
    (deployment,) = models.deployments("resnet50")
    assert deployment.metadata.name == f"resnet50-{status['revision']}"
    assert deployment.metadata.owner_references[0].kind == "ModelDeployment"
    pod = deployment.spec.template.spec
    assert pod.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert pod.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod.init_containers[0].env_from[0].secret_ref.name == "model-store-credentials"
    pods = models.core.list_namespaced_pod(
        models.namespace, label_selector="serving.ferry.dev/model-deployment=resnet50"
    ).items
    for pod_object in pods:
        node = models.core.read_node(pod_object.spec.node_name)
        assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert all(p.metadata.labels["cost-center"] == "vision" for p in pods)
    service = models.core.read_namespaced_service("resnet50", models.namespace)
    config = models.core.read_namespaced_config_map(deployment.metadata.name, models.namespace)
    assert service.metadata.owner_references[0].name == "resnet50"
    assert config.metadata.owner_references[0].name == "resnet50"
    policy = models.networking.read_namespaced_network_policy("resnet50", models.namespace)
    assert policy.spec.ingress[0]._from[0].pod_selector.match_labels == {"app": "inference-gateway"}
    budget = models.policy.read_namespaced_pod_disruption_budget("resnet50", models.namespace)
    assert budget.spec.max_unavailable == "25%"


def test_printer_columns(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(CPU_EXAMPLE)
    models.wait_condition("tiny-mlp", "Ready", "True")
    header, row = cluster.kubectl("get", "md", "-n", models.namespace).stdout.splitlines()
    assert header.split() == [
        "NAME",
        "MODEL",
        "VERSION",
        "SERVING",
        "CANARY",
        "WEIGHT",
        "STEP",
        "REPLICAS",
        "AVAILABLE",
        "READY",
        "REASON",
        "AGE",
    ]
    (shown,) = table_rows(f"{header}\n{row}")
    assert shown | {"AGE": ""} == {
        "NAME": "tiny-mlp", "MODEL": "tiny-mlp", "VERSION": "1.0.0", "SERVING": "1.0.0",
        "CANARY": "", "WEIGHT": "0", "STEP": "", "REPLICAS": "2", "AVAILABLE": "2",
        "READY": "True", "REASON": "Serving", "AGE": "",
    }  # fmt: skip
    assert "tiny-mlp" in cluster.kubectl("get", "ferry", "-n", models.namespace).stdout
    assert "tiny-mlp" in cluster.kubectl("get", "mdep", "-n", models.namespace).stdout


def test_kubectl_scale_changes_the_deployment(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(CPU_EXAMPLE)
    models.wait_condition("tiny-mlp", "Ready", "True")
    cluster.kubectl("scale", "-n", models.namespace, "md/tiny-mlp", "--replicas=3")
    eventually(
        lambda: [d.spec.replicas for d in models.deployments("tiny-mlp")],
        lambda replicas: replicas == [3],
        timeout=20,
        what="Deployment scaled to 3",
    )
    eventually(
        lambda: models.get("tiny-mlp")["status"],
        lambda s: s.get("replicas") == 3 and s.get("readyReplicas") == 3,
        timeout=30,
        what="status counts 3 ready replicas",
    )
    scale = models.custom.get_namespaced_custom_object_scale(
        "serving.ferry.dev", "v1alpha1", models.namespace, "modeldeployments", "tiny-mlp"
    )
    assert scale["status"]["selector"] == "serving.ferry.dev/model-deployment=tiny-mlp"


def test_the_operator_writes_nothing_but_status_to_the_users_object(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(CPU_EXAMPLE)
    models.wait_condition("tiny-mlp", "Ready", "True")
    metadata = models.get("tiny-mlp")["metadata"]
    assert "finalizers" not in metadata
    assert metadata.get("annotations", {}).keys() <= {
        "kubectl.kubernetes.io/last-applied-configuration"
    }
    writers = {(e["manager"], e.get("subresource", "")) for e in metadata["managedFields"]}
    assert writers == {("kubectl-client-side-apply", ""), ("ferry", "status")}


def test_delete_collects_every_child_and_leaves_no_finalizer(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(CPU_EXAMPLE)
    models.wait_condition("tiny-mlp", "Ready", "True")
    cluster.kubectl("delete", "-n", models.namespace, "md/tiny-mlp", "--timeout=20s")
    with pytest.raises(ApiException) as gone:
        models.get("tiny-mlp")
    assert gone.value.status == 404
    children = ("get", "deploy,svc,cm,netpol,pdb,pods", "-n", models.namespace, "-o", "name")
    eventually(
        lambda: cluster.kubectl(*children, "-l", "app.kubernetes.io/instance=tiny-mlp").stdout,
        lambda names: names == "",
        timeout=60,
        what="children garbage-collected",
    )


def test_model_pods_are_admitted_where_restricted_is_enforced(
    ferry_operator: RunningOperator, cluster: ClusterAccess, restricted_namespace: str
) -> None:
    models = ModelDeployments(cluster, restricted_namespace)
    try:
        models.apply(GPU_EXAMPLE)
        models.wait_condition("resnet50", "Ready", "True", timeout=60)
        assert models.condition("resnet50", "Degraded")["status"] == "False"
    finally:
        models.close()
