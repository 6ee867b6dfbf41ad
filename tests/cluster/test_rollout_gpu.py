"""GPU-aware rollouts on the real scheduler: a model that fills every GPU of the cluster
rolls out to a new version (the stable revision steps down first, never below its floor),
and a canary that no node can hold waits saying why, then rolls back at the deadline.

World: the local control plane with its two kwok GPU nodes of 8 `nvidia.com/gpu` each
(e2e/localcluster/nodes.py); the real scheduler accounts for the extended resource, so a pod
that does not fit stays Pending with a real Unschedulable condition. The operator reads
nodes and the pods bound to them with the chart's RBAC.
"""

from typing import Any

import pytest
from kubernetes import client

from e2e.localcluster.nodes import DEFAULT_NODES
from tests.cluster import operator_harness as harness
from tests.cluster import rollouts as r
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

NAME = "llm"
GPU = "nvidia.com/gpu"
PER_NODE = 8
GPU_NODES = [name for name, gpus in DEFAULT_NODES if gpus == PER_NODE]
STEPS = [r.timed(50, 2)]


def gpus_in_use(core: client.CoreV1Api) -> dict[str, int]:
    """GPUs that pods bound to each node hold (the scheduler's accounting)."""
    used: dict[str, int] = {}
    pods = core.list_pod_for_all_namespaces(
        field_selector="status.phase!=Succeeded,status.phase!=Failed"
    ).items
    for pod in pods:
        if pod.spec.node_name:
            limits = [(c.resources.limits or {}).get(GPU, "0") for c in pod.spec.containers]
            used[pod.spec.node_name] = used.get(pod.spec.node_name, 0) + sum(map(int, limits))
    return used


def fill_the_cluster(models: ModelDeployments) -> str:
    """1.0.0 on 2 replicas of 8 GPUs: every GPU of the cluster. Returns its revision."""
    eventually(
        lambda: gpus_in_use(models.core),
        lambda used: not any(used.values()),
        60,
        "no GPU held by an earlier test's pods",
    )
    models.apply(r.manifest(NAME, "1.0.0", replicas=2, gpus=PER_NODE, steps=STEPS))
    stable = r.wait_status(models, NAME, lambda s: bool(s.get("stableRevision")), "1.0.0 stable")[
        "stableRevision"
    ]
    held = {node: used for node, used in gpus_in_use(models.core).items() if used}
    assert held == dict.fromkeys(GPU_NODES, PER_NODE), f"the cluster is not full: {held}"
    return str(stable)


def test_a_model_filling_every_gpu_rolls_out_by_stepping_the_stable_down_first(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    stable = fill_the_cluster(models)
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", replicas=2, gpus=PER_NODE, steps=STEPS))
        canary = r.wait_status(models, NAME, lambda s: bool(s.get("canaryRevision")), "canary")[
            "canaryRevision"
        ]
        done = r.wait_status(models, NAME, r.promoted(canary), "1.1.0 promoted", timeout=60)
        seen.settle()

    # No room: a stable pod goes first, and only then does a canary pod get a node.
    states = seen.deployments
    stepped_down = next(i for i, d in enumerate(states) if d.revision == stable and d.replicas == 1)
    first_ready = next(i for i, d in enumerate(states) if d.revision == canary and d.ready > 0)
    assert stepped_down < first_ready, states
    ready = seen.ready_pods(stable, canary)
    assert min(ready) >= 1, f"below the floor of one serving replica: {ready}"
    assert any("stepping the stable revision down first" in m for m in seen.messages())

    assert (done["modelVersion"], done["readyReplicas"]) == ("1.1.0", 2)
    assert r.replicas_by_revision(models, NAME) == {stable: 0, canary: 2}
    assert done["history"][0]["outcome"] == "Promoted"
    rollout = [
        e.reason for e in r.events(models, NAME) if e.reason not in ("Serving", "NotServing")
    ]
    assert rollout == ["RolloutStarted", "StepReached", "Promoted"]
    # With 2 replicas, one answering is below Ready's rule (2 - 25 %): a NotServing moment
    # is the documented price of rolling out on a full cluster; nothing else is.
    assert {w.reason for w in r.warnings(models, NAME)} <= {"NotServing"}


def test_a_canary_no_node_can_hold_waits_with_insufficient_gpu_then_rolls_back(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    stable = fill_the_cluster(models)
    too_big = 2 * PER_NODE  # more than any node has
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", replicas=2, gpus=too_big, steps=STEPS))
        scheduled = models.wait_condition(NAME, "Scheduled", "False", "InsufficientGPU", 30)
        waiting: dict[str, Any] = r.status(models, NAME)
        done = r.wait_status(
            models,
            NAME,
            lambda s: (s.get("rollout") or {}).get("phase") == "RolledBack",
            "rolled back at the deadline",
            timeout=60,
        )
        models.wait_condition(NAME, "Ready", "True", timeout=30)
        seen.settle()

    canary = done["history"][0]["revision"]
    assert f"needs {too_big} {GPU} and no node has that many free" in scheduled["message"]
    assert "no node the placement allows has that many at all" in scheduled["message"]
    assert waiting["rollout"]["phase"] == "Progressing"
    assert "waiting: pod " in waiting["rollout"]["message"]
    ready = seen.ready_pods(stable)
    assert min(ready) >= 1, f"below the floor of one serving replica: {ready}"

    degraded = r.condition(done, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert f"needs {too_big} {GPU}" in degraded["message"]
    assert r.condition(done, "Progressing")["reason"] == "RolledBack"
    assert (done["history"][0]["version"], done["history"][0]["outcome"]) == ("1.1.0", "RolledBack")
    assert r.replicas_by_revision(models, NAME) == {stable: 2, canary: 0}
    assert [w.reason for w in r.warnings(models, NAME)] == ["RolledBack"], (
        f"a rollback posts one Warning; saw {r.warnings(models, NAME)}"
    )
