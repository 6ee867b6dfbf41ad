"""The operator restarted in the middle of a rollout (reliability scenario R1, without canary
steps yet): the rollout finishes, nothing is duplicated, no condition goes back.

World: the session's local control plane with kwok nodes and pods for the models;
charts/ferry installed by `helm install` for this module, its operator pod on the real node
(tests/e2e/release.py), killed (deleted with no grace, as a lost node ends it; its Deployment
held at zero meanwhile) and scheduled again. kwok's `ready-after` stage plays a model that
loads slowly.
"""

import json
from collections import Counter
from typing import Any

import pytest

from e2e.demo_operator import REPO
from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually, stays
from tests.cluster.operator_harness import ModelDeployments
from tests.e2e.release import ReleaseOperator

pytestmark = pytest.mark.e2e

CPU_EXAMPLE = REPO / "examples" / "cpu-model.yaml"
NAME = "tiny-mlp"
LOADING = 25  # seconds the new version's pods take to get ready; the restart fits in it
DOWNTIME = 5
REVISION = "serving.ferry.dev/revision"


def conditions(models: ModelDeployments) -> dict[str, tuple[str, str, str]]:
    """type -> (status, reason, lastTransitionTime)."""
    found = models.get(NAME)["status"]["conditions"]
    return {c["type"]: (c["status"], c["reason"], c["lastTransitionTime"]) for c in found}


def per_revision(items: list[Any]) -> Counter[str]:
    return Counter(item.metadata.labels[REVISION] for item in items)


def test_restart_mid_rollout_completes_it_without_duplicates_or_resets(
    ferry_release: ReleaseOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    namespace = models.namespace
    models.apply(CPU_EXAMPLE)
    models.wait_condition(NAME, "Ready", "True", timeout=60)
    old = models.get(NAME)["status"]["revision"]
    upgrade = {
        "model": {"version": "1.1.0"},
        "podMetadata": {"annotations": {"sim.ferry.dev/ready-after": f"{LOADING}s"}},
    }
    cluster.kubectl(
        "patch", "-n", namespace, f"md/{NAME}", "--type=merge", "-p", json.dumps({"spec": upgrade})
    )
    new = eventually(
        lambda: models.get(NAME)["status"],
        lambda s: (
            s.get("revision") != old
            and (s.get("stableRevision"), s.get("modelVersion")) == (old, "1.0.0")
            and models.condition(NAME, "Progressing").get("reason") == "RollingOut"
        ),
        timeout=20,
        what="the 1.1.0 revision rolling out beside 1.0.0",
    )["revision"]

    def new_pods() -> list[Any]:
        selector = f"{REVISION}={new}"
        pods: list[Any] = models.core.list_namespaced_pod(namespace, label_selector=selector).items
        return pods

    loading = eventually(
        lambda: {p.metadata.uid: p.status.phase for p in new_pods()},
        lambda phases: list(phases.values()) == ["Running", "Running"],
        timeout=30,
        what="the new revision's two pods running, not ready yet",
    )
    before = eventually(
        lambda: conditions(models),
        lambda seen: seen["ArtifactVerified"][0] == seen["Scheduled"][0] == "True",
        timeout=20,
        what="status saying the new pods fetched their artifact and have nodes",
    )

    ferry_release.kill()
    recorded = models.get(NAME)["status"]
    stays(
        lambda: models.get(NAME)["status"],
        lambda status: status == recorded,
        DOWNTIME,
        "nobody writes the status while the operator is down",
    )
    (rolling,) = [d for d in models.deployments(NAME) if d.metadata.labels[REVISION] == new]
    assert not rolling.status.ready_replicas, "the rollout finished before the restart"
    ferry_release.start()

    def serving_while_rolling() -> dict[str, Any]:
        status = models.get(NAME)["status"]
        assert models.condition(NAME, "Ready")["status"] == "True", status
        return status

    eventually(
        serving_while_rolling,
        lambda s: (s.get("stableRevision"), s.get("modelVersion")) == (new, "1.1.0"),
        timeout=LOADING + 60,
        what="the rollout completed after the restart",
    )
    models.wait_condition(NAME, "Progressing", "False", "RolloutComplete", timeout=20)
    after = conditions(models)
    # A rollout under way, then done, and the new revision's model loading, then answering:
    # expected. The rest must read as it did before the restart, transition times included.
    moving = ("Progressing", "Reconciling", "ModelHealthy")
    assert before["ModelHealthy"][:2] == ("Unknown", "Pending")
    assert after["ModelHealthy"][:2] == ("True", "ModelAnswers")
    assert {kind: seen for kind, seen in after.items() if kind not in moving} == {
        kind: seen for kind, seen in before.items() if kind not in moving
    }, "a condition went back and forth across the restart"

    deployments = eventually(
        lambda: models.deployments(NAME),
        lambda found: (
            {d.metadata.labels[REVISION]: d.spec.replicas for d in found} == {new: 2, old: 0}
        ),
        timeout=30,
        what="the old revision scaled to zero (kept for rollback)",
    )
    config_maps = models.core.list_namespaced_config_map(
        namespace, label_selector=f"serving.ferry.dev/model-deployment={NAME}"
    ).items
    replica_sets = models.apps.list_namespaced_replica_set(
        namespace, label_selector=f"{REVISION}={new}"
    ).items
    assert per_revision(deployments) == per_revision(config_maps) == Counter({new: 1, old: 1})
    assert per_revision(replica_sets) == Counter({new: 1})
    assert {p.metadata.uid for p in new_pods()} == set(loading), "pods were replaced"
    cluster.kubectl("delete", "-n", namespace, f"md/{NAME}", "--wait", "--timeout=10s")
