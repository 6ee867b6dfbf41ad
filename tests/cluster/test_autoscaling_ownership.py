"""Who owns the replica count: an external autoscaler through the scale subresource, or
Ferry's own autoscaler (status only), never both fighting.

World: the local control plane; kwok pods (ready at once, no agent, so Ferry's autoscaler
has no load figure and holds); the HPA object is real (the controller-manager's HPA
controller runs, without metrics it scales nothing, which is what makes the scale patches
below the only writers).
"""

import json
from typing import Any

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually, stays
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def manifest(version: str, extra: str = "") -> str:
    return f"""
apiVersion: serving.ferry.dev/v1alpha1
kind: ModelDeployment
metadata: {{name: scaled}}
spec:
  model: {{name: scaled, version: "{version}", uri: "s3://models/scaled.mar", sha256: {SHA}}}
  runtime: {{image: ghcr.io/ferry/torchserve:0.12.0-cpu}}
  resources: {{cpu: 100m, memory: 256Mi}}
  replicas: 2
  rollout: {{steps: [{{weight: 50, pause: {{}}}}]}}
{extra}"""


def replicas_by_version(models: ModelDeployments) -> dict[str, int]:
    return {
        d.metadata.labels["app.kubernetes.io/version"]: d.spec.replicas
        for d in models.deployments("scaled")
    }


def scale(cluster: ClusterAccess, namespace: str, replicas: int) -> None:
    """What an HPA does: a patch of the scale subresource, under its own field manager."""
    body = json.dumps({"spec": {"replicas": replicas}})
    cluster.kubectl(
        "patch", "-n", namespace, "md/scaled", "--subresource=scale", "--type=merge",
        "--field-manager=horizontal-pod-autoscaler", "-p", body,
    )  # fmt: skip


def replica_managers(models: ModelDeployments) -> set[str]:
    """Field managers owning spec.replicas of the ModelDeployment."""
    entries: list[dict[str, Any]] = models.get("scaled")["metadata"]["managedFields"]
    return {
        e["manager"] for e in entries if "f:replicas" in (e.get("fieldsV1") or {}).get("f:spec", {})
    }


def test_an_external_autoscaler_scales_a_canary_in_proportion_and_ferry_writes_no_replicas(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(manifest("1.0.0"))
    models.wait_condition("scaled", "Ready", "True")
    models.apply(manifest("2.0.0"))
    eventually(lambda: replicas_by_version(models), lambda seen: seen == {"1.0.0": 1, "2.0.0": 1},
               what="the canary at 50 % of 2")  # fmt: skip
    scale(cluster, models.namespace, 6)
    eventually(lambda: replicas_by_version(models), lambda seen: seen == {"1.0.0": 3, "2.0.0": 3},
               what="6 replicas split 50/50")  # fmt: skip
    # The effective weight (ready canary / ready pods) once the new pods of both are ready;
    # still at step 1: a scale is no reason to move on.
    eventually(
        lambda: models.get("scaled")["status"],
        lambda status: (status["canaryWeight"], status["rollout"]["step"]) == (50, 1),
        what="50 % of 6 ready, at step 1",
    )
    scale(cluster, models.namespace, 3)
    eventually(lambda: replicas_by_version(models), lambda seen: seen == {"1.0.0": 1, "2.0.0": 2},
               what="3 replicas: the canary's share rounds up")  # fmt: skip
    # The user's apply and the autoscaler own spec.replicas; Ferry only ever wrote status.
    assert "ferry" not in replica_managers(models)
    ferry_fields = [
        e for e in models.get("scaled")["metadata"]["managedFields"] if e["manager"] == "ferry"
    ]
    assert {e.get("subresource") for e in ferry_fields} == {"status"}


def test_ferry_autoscaling_ignores_spec_replicas_and_reports_an_hpa_on_the_same_object(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    autoscaling = "  autoscaling: {minReplicas: 2, maxReplicas: 5, target: 4}\n"
    models.apply(manifest("1.0.0", autoscaling))
    models.wait_condition("scaled", "Ready", "True")
    autoscaled = eventually(
        lambda: models.get("scaled")["status"].get("autoscaling") or {},
        lambda seen: seen.get("desiredReplicas") == 2,
        what="status.autoscaling",
    )
    assert "no concurrency value from a ready pod yet" in autoscaled["reason"]  # kwok: no agent
    scale(cluster, models.namespace, 4)  # spec.replicas is not Ferry's input any more
    stays(lambda: replicas_by_version(models), lambda seen: seen == {"1.0.0": 2}, 8,
          "spec.replicas ignored under spec.autoscaling")  # fmt: skip
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "scaled-cpu"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "serving.ferry.dev/v1alpha1",
                               "kind": "ModelDeployment", "name": "scaled"},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}],
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-n", models.namespace, "-f", "-", input=json.dumps(hpa))
    conflict = models.wait_condition("scaled", "AutoscalerConflict", "True", timeout=30)
    assert "HorizontalPodAutoscaler scaled-cpu" in conflict["message"]
    warnings = models.core.list_namespaced_event(
        models.namespace, field_selector="involvedObject.name=scaled,type=Warning"
    ).items
    assert [e.reason for e in warnings] == ["HorizontalPodAutoscaler"]
    cluster.kubectl("delete", "-n", models.namespace, "hpa/scaled-cpu")
    models.wait_condition("scaled", "AutoscalerConflict", "False", timeout=30)
