"""Children that drift are put back; a converged ModelDeployment costs no writes at all.

World: the local control plane; the operator runs with the chart's ServiceAccount and a
10-second resync, so a minute of steady state spans six full reconciles. Writes are counted
by the operator's own `ferry_api_writes_total`.
"""

import json
import time
from typing import Any

import pytest

from e2e.demo_operator import REPO
from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

GPU_EXAMPLE = REPO / "examples" / "gpu-model.yaml"


@pytest.fixture
def serving(ferry_operator: RunningOperator, models: ModelDeployments) -> Any:
    """The GPU example, Ready; returns its Deployment."""
    models.apply(GPU_EXAMPLE)
    models.wait_condition("resnet50", "Ready", "True", timeout=60)
    (deployment,) = models.deployments("resnet50")
    return deployment


def serve_container(models: ModelDeployments, name: str) -> Any:
    deployment = models.apps.read_namespaced_deployment(name, models.namespace)
    return deployment.spec.template.spec.containers[0]


def test_deleted_deployment_comes_back(serving: Any, models: ModelDeployments) -> None:
    models.apps.delete_namespaced_deployment(serving.metadata.name, models.namespace)
    restored = eventually(
        lambda: models.deployments("resnet50"),
        lambda found: len(found) == 1 and found[0].metadata.uid != serving.metadata.uid,
        timeout=15,
        what="the Deployment re-created",
    )
    assert restored[0].metadata.name == serving.metadata.name


@pytest.mark.parametrize(
    ("patch", "restored"),
    [
        (
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/image",
                    "value": "evil:1",
                }
            ],
            lambda c: c.image == "ghcr.io/ferry/torchserve:0.12.0-gpu",
        ),
        (
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu",
                    "value": "4",
                }
            ],
            lambda c: c.resources.limits["nvidia.com/gpu"] == "1",
        ),
    ],
    ids=["image", "gpu-limit"],
)
def test_edited_deployment_is_restored_with_one_write(
    serving: Any,
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    cluster: ClusterAccess,
    patch: Any,
    restored: Any,
) -> None:
    name = serving.metadata.name
    ferry_operator.wait_quiet()
    before = ferry_operator.metric_total("ferry_api_writes_total", resource="deployments")
    cluster.kubectl(
        "patch", "deployment", name, "-n", models.namespace, "--type=json", "-p", json.dumps(patch)
    )
    eventually(lambda: serve_container(models, name), restored, timeout=15, what="drift repaired")
    # The events the edit itself causes (the Deployment controller's status updates) must
    # not each apply the repair again.
    ferry_operator.wait_quiet()
    after = ferry_operator.metric_total("ferry_api_writes_total", resource="deployments")
    assert after - before == 1, f"{after - before:.0f} writes to Deployments for one repair"


def test_edited_service_is_restored(
    serving: Any, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    patch = [{"op": "replace", "path": "/spec/ports/0/port", "value": 8000}]
    cluster.kubectl(
        "patch",
        "service",
        "resnet50",
        "-n",
        models.namespace,
        "--type=json",
        "-p",
        json.dumps(patch),
    )
    eventually(
        lambda: (
            models.core.read_namespaced_service("resnet50", models.namespace).spec.ports[0].port
        ),
        lambda port: port == 80,
        timeout=15,
        what="Service port restored",
    )


def test_steady_state_costs_zero_writes_for_a_minute(
    serving: Any, ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    # Earlier tests' namespaces may still be terminating: start once the operator is quiet.
    before = ferry_operator.wait_quiet()
    reconciles = ferry_operator.metric_total("ferry_reconciles_total")
    time.sleep(60)
    assert ferry_operator.writes() == before
    assert ferry_operator.metric_total("ferry_reconciles_total") >= reconciles + 5  # resyncs ran
    assert models.condition("resnet50", "Ready")["status"] == "True"
