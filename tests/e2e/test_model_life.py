"""A model's life with the chart installed: serve, scale, a bad version that never takes over,
back to the good one, delete.

World: the session's local control plane with kwok nodes and pods for the models;
charts/ferry installed by `helm install` for this module, its operator pod on the real node
(tests/e2e/release.py). kwok's `never-ready` stage, set through spec.podMetadata, plays a
model version that never finishes loading.
"""

import json
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.demo_operator import REPO
from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually, stays, table_rows
from tests.cluster.operator_harness import ModelDeployments
from tests.e2e.release import ReleaseOperator

pytestmark = pytest.mark.e2e

CPU_EXAMPLE = REPO / "examples" / "cpu-model.yaml"
NAME = "tiny-mlp"
DEADLINE = 30  # the shortest spec.rollout.progressDeadlineSeconds the CRD accepts


def patch(cluster: ClusterAccess, namespace: str, spec: dict[str, Any]) -> None:
    merge = json.dumps({"spec": spec})
    cluster.kubectl("patch", "-n", namespace, f"md/{NAME}", "--type=merge", "-p", merge)


def printed(cluster: ClusterAccess, namespace: str) -> dict[str, str]:
    """`kubectl get md` as a user reads it: column name -> value."""
    (row,) = table_rows(cluster.kubectl("get", "md", NAME, "-n", namespace).stdout)
    return row


def test_serve_scale_fail_to_roll_out_recover_and_delete(
    ferry_release: ReleaseOperator, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    namespace = models.namespace
    models.apply(CPU_EXAMPLE)
    waited = cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{NAME}", "--timeout=60s"
    )
    assert "condition met" in waited.stdout
    columns = printed(cluster, namespace)
    assert columns | {"AGE": ""} == {
        "NAME": NAME, "MODEL": NAME, "VERSION": "1.0.0", "SERVING": "1.0.0", "CANARY": "",
        "WEIGHT": "0", "STEP": "", "REPLICAS": "2", "AVAILABLE": "2", "READY": "True",
        "REASON": "Serving", "AGE": "",
    }  # fmt: skip

    cluster.kubectl("scale", "-n", namespace, f"md/{NAME}", "--replicas=3")
    eventually(
        lambda: models.get(NAME)["status"],
        lambda s: (s.get("replicas"), s.get("readyReplicas")) == (3, 3),
        timeout=30,
        what="3 ready replicas in status",
    )
    assert models.condition(NAME, "Ready")["message"].startswith("3/3 replicas answer")
    columns = printed(cluster, namespace)
    assert (columns["REPLICAS"], columns["AVAILABLE"]) == ("3", "3")
    good = models.get(NAME)["status"]["revision"]
    (stable,) = models.deployments(NAME)

    # 1.1.0 never finishes loading: 1.0.0 keeps answering on all three replicas.
    patched_at = time.monotonic()
    patch(cluster, namespace, {
        "model": {"version": "1.1.0"},
        "podMetadata": {"annotations": {"sim.ferry.dev/fail": "never-ready"}},
        "rollout": {"progressDeadlineSeconds": DEADLINE},
    })  # fmt: skip
    bad = eventually(
        lambda: models.get(NAME)["status"].get("revision"),
        lambda revision: revision not in (None, good),
        timeout=20,
        what="the 1.1.0 revision",
    )

    def serving() -> dict[str, Any]:
        status = models.get(NAME)["status"]
        old = models.apps.read_namespaced_deployment(stable.metadata.name, namespace)
        return {
            "ready": models.condition(NAME, "Ready").get("status"),
            "modelVersion": status.get("modelVersion"),
            "stableRevision": status.get("stableRevision"),
            "oldReadyReplicas": old.status.ready_replicas,
            "progressing": models.condition(NAME, "Progressing").get("reason"),
        }

    def old_serves(seen: dict[str, Any]) -> bool:
        return (seen["ready"], seen["modelVersion"], seen["stableRevision"]) == (
            "True", "1.0.0", good,
        ) and seen["oldReadyReplicas"] == 3  # fmt: skip

    stays(serving, old_serves, DEADLINE - 5, "1.0.0 serving while 1.1.0 never gets ready")
    verdict = eventually(
        serving,
        lambda seen: seen["progressing"] == "RolledBack",
        timeout=60,
        what="Progressing=False RolledBack at the deadline",
    )
    assert old_serves(verdict), verdict
    assert time.monotonic() - patched_at >= DEADLINE, "rolled back before the deadline"
    assert models.condition(NAME, "Progressing")["status"] == "False"
    assert models.condition(NAME, "Stalled")["status"] == "True"
    degraded = models.wait_condition(NAME, "Degraded", "True", "ProgressDeadlineExceeded")
    assert f"progressDeadlineSeconds ({DEADLINE}s)" in degraded["message"]
    assert f"revision {bad} (model 1.1.0) was rolled back" in degraded["message"]
    warnings = models.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={NAME},type=Warning"
    ).items
    assert [event.reason for event in warnings] == ["RolledBack"]  # one Warning, not three
    assert models.get(NAME)["status"]["history"][0]["outcome"] == "RolledBack"
    replicas = {d.metadata.name: d.spec.replicas for d in models.deployments(NAME)}
    assert replicas == {stable.metadata.name: 3, f"{NAME}-{bad}": 0}  # GPUs and pods freed

    # Back to 1.0.0 and its spec: nothing new starts; the failed revision stays at zero.
    patch(cluster, namespace, {
        "model": {"version": "1.0.0"}, "podMetadata": None, "rollout": None,
    })  # fmt: skip
    known = {stable.metadata.name, f"{NAME}-{bad}"}

    def deployments() -> dict[str, int]:
        found = {d.metadata.name: d.spec.replicas for d in models.deployments(NAME)}
        assert set(found) <= known, f"a new revision appeared: {sorted(found)}"
        return found

    eventually(
        deployments,
        lambda found: found == {stable.metadata.name: 3, f"{NAME}-{bad}": 0},
        timeout=30,
        what="the stable revision alone with replicas",
    )
    models.wait_condition(NAME, "Degraded", "False", "Healthy", timeout=30)
    status = models.get(NAME)["status"]
    assert (status["revision"], status["stableRevision"], status["modelVersion"]) == (
        good, good, "1.0.0",
    )  # fmt: skip
    assert models.condition(NAME, "Ready")["status"] == "True"
    replica_sets = models.apps.list_namespaced_replica_set(
        namespace, label_selector=f"serving.ferry.dev/model-deployment={NAME}"
    ).items
    serving = [rs.metadata.owner_references[0].name for rs in replica_sets if rs.spec.replicas]
    assert serving == [stable.metadata.name], "the serving revision's pods were never replaced"

    # Delete: gone within 10 s, children collected by the garbage collector.
    started = time.monotonic()
    cluster.kubectl("delete", "-n", namespace, f"md/{NAME}", "--wait", "--timeout=10s")
    with pytest.raises(ApiException) as lookup:
        models.get(NAME)
    assert lookup.value.status == 404
    assert time.monotonic() - started < 10
    children = ("get", "deploy,rs,pods,svc,cm,netpol,pdb", "-n", namespace, "-o", "name")
    eventually(
        lambda: cluster.kubectl(*children, "-l", f"app.kubernetes.io/instance={NAME}").stdout,
        lambda names: names == "",
        timeout=60,
        what="children garbage-collected",
    )
