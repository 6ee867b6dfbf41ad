"""Failures are reported with reasons a user can act on, and a bad rollout never takes the
serving version down.

World: the local control plane; kwok failure stages selected by pod annotations (set through
spec.podMetadata) simulate a model that never gets ready, a crash-looping server and a fetch
step that rejects the artifact's checksum. GPUs are the scheduler's real extended-resource
accounting on simulated nodes.
"""

import uuid

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def manifest(name: str, *, version: str = "1.0.0", gpus: int = 0, annotations: str = "{}") -> str:
    return f"""
apiVersion: serving.ferry.dev/v1alpha1
kind: ModelDeployment
metadata: {{name: {name}}}
spec:
  model: {{name: {name}, version: "{version}", uri: "s3://models/{name}.mar", sha256: {SHA}}}
  runtime: {{image: ghcr.io/ferry/torchserve:0.12.0-gpu}}
  resources: {{cpu: 500m, memory: 1Gi, gpu: {gpus}}}
  podMetadata: {{annotations: {annotations}}}
  replicas: 1
  rollout: {{progressDeadlineSeconds: 30}}
"""


def test_gpu_oversubscription_is_insufficient_gpu_until_a_node_has_room(
    ferry_operator: RunningOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    models.apply(manifest("llm", gpus=16))
    scheduled = models.wait_condition("llm", "Scheduled", "False", "InsufficientGPU", timeout=15)
    assert "16 nvidia.com/gpu" in scheduled["message"]
    assert models.condition("llm", "Ready")["reason"] == "InsufficientGPU"
    node = f"gpu-node-16-{uuid.uuid4().hex[:4]}"
    cluster.add_node(node, gpus=16)
    try:
        models.wait_condition("llm", "Ready", "True", timeout=60)
        assert models.condition("llm", "Scheduled")["status"] == "True"
    finally:
        cluster.delete_node(node)


def test_never_ready_model_is_not_ready_then_out_of_deadline(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(manifest("stuck", annotations='{"sim.ferry.dev/fail": never-ready}'))
    ready = models.wait_condition("stuck", "Ready", "False", "ReplicasNotReady", timeout=20)
    assert "0/1 replicas answer" in ready["message"]
    assert models.condition("stuck", "Progressing")["status"] == "True"
    # The Deployment controller declares the deadline (30 s) exceeded; Ferry says so.
    models.wait_condition("stuck", "Progressing", "False", "ProgressDeadlineExceeded", timeout=75)
    assert models.condition("stuck", "Ready")["reason"] == "ProgressDeadlineExceeded"


def test_crash_looping_model_is_crash_loop(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(manifest("crashy", annotations='{"sim.ferry.dev/fail": crash-loop}'))
    degraded = models.wait_condition("crashy", "Degraded", "True", "CrashLoop", timeout=30)
    assert "container torchserve keeps crashing" in degraded["message"]
    assert models.condition("crashy", "Ready")["status"] == "False"


def test_checksum_mismatch_is_reported_with_the_fetch_verdict(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    verdict = "sha256 mismatch: expected 9f86d081, got 0c1e3b2a"
    annotations = (
        f'{{"sim.ferry.dev/init-exit-code": "10", "sim.ferry.dev/init-message": "{verdict}"}}'
    )
    models.apply(manifest("tampered", annotations=annotations))
    verified = models.wait_condition(
        "tampered", "ArtifactVerified", "False", "ArtifactChecksumMismatch", timeout=20
    )
    assert verdict in verified["message"]
    assert "spec.model.sha256" in verified["message"]
    assert models.condition("tampered", "Ready")["reason"] == "ArtifactChecksumMismatch"
    events = models.core.list_namespaced_event(
        models.namespace, field_selector="involvedObject.name=tampered,type=Warning"
    ).items
    assert "ArtifactChecksumMismatch" in {e.reason for e in events}


def test_bad_version_never_replaces_the_serving_one(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(manifest("steady", version="1.0.0"))
    models.wait_condition("steady", "Ready", "True", timeout=30)
    stable = models.get("steady")["status"]["stableRevision"]
    bad = '{"sim.ferry.dev/init-exit-code": "10"}'
    models.apply(manifest("steady", version="1.1.0", annotations=bad))
    models.wait_condition("steady", "Degraded", "True", "ArtifactChecksumMismatch", timeout=20)
    status = models.get("steady")["status"]
    assert (status["stableRevision"], status["modelVersion"]) == (stable, "1.0.0")
    assert models.condition("steady", "Ready")["status"] == "True"  # 1.0.0 still answers
    # Fixing the version rolls forward.
    models.apply(manifest("steady", version="1.2.0"))
    eventually(
        lambda: models.get("steady")["status"],
        lambda s: s.get("modelVersion") == "1.2.0" and s.get("stableRevision") == s.get("revision"),
        timeout=30,
        what="1.2.0 stable",
    )
    # The older revisions stay, scaled to zero, for a declarative rollback.
    eventually(
        lambda: sorted(d.spec.replicas for d in models.deployments("steady")),
        lambda replicas: replicas == [0, 0, 1],
        timeout=30,
        what="older revisions scaled to zero",
    )
