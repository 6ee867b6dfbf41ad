"""GitOps tools' verdicts on real ModelDeployments: kstatus (Flux, kpt, Config Sync) and the
Argo CD health check Ferry ships (charts/ferry/argocd-health.lua).

World: the local control plane and the operator with the chart's RBAC; kwok plays the pods
(`sim.ferry.dev/ready-after` makes a model load for a while, `init-exit-code: "10"` is a
fetch step rejecting the artifact's checksum, `fail: never-ready` a model that never answers).
At each state the object is read as `kubectl get md NAME -o json` and handed to the real
kstatus library (the `kstatus` command) and to the Lua under Argo CD's conventions.

An invalid spec is not driven here: the CRD refuses it at admission (tests/malformed/), and
`InvalidSpec` is only reachable through an object stored under an older CRD.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator
from tests.gitops import Health, KStatus, argocd_health, kstatus

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LOADS_FOR_5S = '{"sim.ferry.dev/ready-after": 5s}'
BAD_CHECKSUM = '{"sim.ferry.dev/init-exit-code": "10"}'
PAUSED_STEP = "[{weight: 50, pause: {}}]"


def manifest(
    name: str,
    *,
    version: str = "1.0.0",
    replicas: int = 1,
    annotations: str = "{}",
    steps: str = "[]",
    deadline: int = 600,
) -> str:
    return f"""
apiVersion: serving.ferry.dev/v1alpha1
kind: ModelDeployment
metadata: {{name: {name}}}
spec:
  model: {{name: {name}, version: "{version}", uri: "s3://models/{name}.mar", sha256: {SHA}}}
  runtime: {{image: ghcr.io/ferry/torchserve:0.12.0-cpu}}
  resources: {{cpu: 100m, memory: 256Mi}}
  podMetadata: {{annotations: {annotations}}}
  replicas: {replicas}
  rollout: {{steps: {steps}, progressDeadlineSeconds: {deadline}}}
"""


class Verdicts:
    """The live object, and what kstatus and Argo CD's health check make of it."""

    def __init__(self, cluster: ClusterAccess, models: ModelDeployments) -> None:
        self.cluster, self.namespace = cluster, models.namespace

    def live(self, name: str) -> str:
        return self.cluster.kubectl("get", "md", name, "-n", self.namespace, "-o", "json").stdout

    def dry_run(self, text: str) -> str:
        """The object as the API server would store this manifest now (nothing is written)."""
        argv = ("apply", "--dry-run=server", "-n", self.namespace, "-o", "json", "-f", "-")
        return self.cluster.kubectl(*argv, input=text).stdout

    def when(
        self, name: str, accept: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> tuple[dict[str, Any], KStatus, Health]:
        """The first live object that `accept`s and describes its current generation (a
        status behind its spec is a state of its own), with both verdicts on that object."""

        def current(text: str) -> bool:
            obj = json.loads(text)
            observed = (obj.get("status") or {}).get("observedGeneration")
            return observed == obj["metadata"]["generation"] and accept(obj)

        text = eventually(lambda: self.live(name), current, timeout, f"{name}: {what}")
        return json.loads(text), kstatus(text), argocd_health(json.loads(text))


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in obj["status"]["conditions"] if c["type"] == kind)
    return found


def has(kind: str, status: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def accept(obj: dict[str, Any]) -> bool:
        found = [c for c in (obj["status"].get("conditions") or []) if c["type"] == kind]
        return bool(found) and found[0]["status"] == status and reason in (None, found[0]["reason"])

    return accept


def rollout_phase(phase: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: (obj["status"].get("rollout") or {}).get("phase") == phase


def serves_its_spec(obj: dict[str, Any]) -> bool:
    status = obj["status"]
    return (
        has("Progressing", "False", "RolloutComplete")(obj)
        and has("Ready", "True")(obj)
        and status.get("stableRevision") == status.get("revision")
    )


@pytest.fixture
def verdicts(cluster: ClusterAccess, models: ModelDeployments) -> Verdicts:
    return Verdicts(cluster, models)


def test_before_the_operator_reports_kstatus_says_current_and_argo_cd_progressing(
    ferry_operator: RunningOperator, verdicts: Verdicts
) -> None:
    # A new object as the API server stores it (the operator fixture installed the CRD):
    # generation 1, no status yet. kstatus, with no observedGeneration and no conditions to
    # read, calls it Current until the operator's first status write.
    text = verdicts.dry_run(manifest("new"))
    assert "status" not in json.loads(text)
    assert kstatus(text) == KStatus("Current", "Resource is current")
    assert argocd_health(json.loads(text)) == Health(
        "Progressing", "Waiting for the Ferry operator to report status"
    )


def test_a_spec_change_not_observed_yet_is_in_progress_and_progressing(
    ferry_operator: RunningOperator, models: ModelDeployments, verdicts: Verdicts
) -> None:
    models.apply(manifest("bumped"))
    verdicts.when("bumped", serves_its_spec, "serving")
    # The object the API server stores for the new version, before the operator saw it.
    text = verdicts.dry_run(manifest("bumped", version="1.1.0"))
    obj = json.loads(text)
    assert (obj["metadata"]["generation"], obj["status"]["observedGeneration"]) == (2, 1)
    assert kstatus(text) == KStatus(
        "InProgress", "ModelDeployment generation is 2, but latest observed generation is 1"
    )
    assert argocd_health(obj) == Health(
        "Progressing",
        "Waiting for the Ferry operator to observe generation 2 (status describes generation 1)",
    )


def test_a_loading_then_serving_model_is_in_progress_then_current_and_healthy(
    ferry_operator: RunningOperator, models: ModelDeployments, verdicts: Verdicts
) -> None:
    models.apply(manifest("serving", annotations=LOADS_FOR_5S))
    obj, ks, argo = verdicts.when("serving", has("Ready", "False", "ReplicasNotReady"), "loading")
    assert condition(obj, "Reconciling")["status"] == "True"
    assert ks.status == "InProgress"
    assert "replicas ready" in ks.message
    assert argo.status == "Progressing"
    assert argo.message.startswith("RollingOut: ")

    obj, ks, argo = verdicts.when("serving", serves_its_spec, "serving")
    assert ks.status == "Current"
    assert argo == Health("Healthy", condition(obj, "Ready")["message"])
    assert "1/1 replicas answer" in argo.message


def test_a_rollout_paused_for_promotion_is_in_progress_and_suspended_until_promoted(
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    verdicts: Verdicts,
    cluster: ClusterAccess,
) -> None:
    models.apply(manifest("canary", replicas=2, steps=PAUSED_STEP))
    verdicts.when("canary", serves_its_spec, "1.0.0 serving")
    models.apply(
        manifest("canary", version="2.0.0", replicas=2, steps=PAUSED_STEP, annotations=LOADS_FOR_5S)
    )
    # The canary loads: the rollout is under way.
    obj, ks, argo = verdicts.when("canary", rollout_phase("Progressing"), "canary loading")
    assert condition(obj, "Progressing")["reason"] == "RollingOut"
    assert ks.status == "InProgress"
    assert argo.status == "Progressing"
    assert "step 1/2" in argo.message

    # Weight reached, `pause: {}`: waits for a promote.
    obj, ks, argo = verdicts.when("canary", rollout_phase("Paused"), "paused")
    assert has("Progressing", "True", "RolloutPaused")(obj)
    assert ks.status == "InProgress"
    assert argo.status == "Suspended"
    assert argo.message.startswith("RolloutPaused: ")
    assert "paused" in argo.message

    # The one step's pause, of this rollout's first attempt (ferry.rollout.actions).
    revision = obj["status"]["revision"]
    cluster.kubectl(
        "annotate",
        "md",
        "canary",
        "-n",
        models.namespace,
        f"serving.ferry.dev/promote={revision}/1/1",
    )
    obj, ks, argo = verdicts.when("canary", serves_its_spec, "2.0.0 promoted")
    assert obj["status"]["modelVersion"] == "2.0.0"
    assert ks.status == "Current"
    assert argo.status == "Healthy"


def test_an_aborted_rollout_is_failed_and_degraded(
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    verdicts: Verdicts,
    cluster: ClusterAccess,
) -> None:
    models.apply(manifest("aborted", replicas=2, steps=PAUSED_STEP))
    verdicts.when("aborted", serves_its_spec, "1.0.0 serving")
    models.apply(manifest("aborted", version="2.0.0", replicas=2, steps=PAUSED_STEP))
    obj, _, _ = verdicts.when("aborted", rollout_phase("Paused"), "paused")
    revision = obj["status"]["revision"]
    cluster.kubectl(
        "annotate", "md", "aborted", "-n", models.namespace, f"serving.ferry.dev/abort={revision}/1"
    )
    obj, ks, argo = verdicts.when("aborted", rollout_phase("Aborted"), "aborted")
    assert has("Stalled", "True", "RolloutAborted")(obj)
    assert ks.status == "Failed"
    assert "was aborted" in ks.message
    assert argo.status == "Degraded"
    assert argo.message == f"RolloutAborted: {ks.message}"
    assert obj["status"]["modelVersion"] == "1.0.0"  # the stable version still answers


def test_a_canary_whose_artifact_fails_its_checksum_is_rolled_back_failed_and_degraded(
    ferry_operator: RunningOperator, models: ModelDeployments, verdicts: Verdicts
) -> None:
    models.apply(manifest("tampered", replicas=2, steps="[{weight: 50}]"))
    verdicts.when("tampered", serves_its_spec, "1.0.0 serving")
    models.apply(
        manifest(
            "tampered",
            version="1.1.0",
            replicas=2,
            steps="[{weight: 50}]",
            annotations=BAD_CHECKSUM,
        )
    )
    obj, ks, argo = verdicts.when("tampered", rollout_phase("RolledBack"), "rolled back")
    assert has("Stalled", "True", "RolledBack")(obj)
    assert has("Degraded", "True", "ArtifactChecksumMismatch")(obj)
    assert has("Ready", "True")(obj)  # 1.0.0 still answers
    assert ks.status == "Failed"
    assert "does not match spec.model.sha256" in ks.message
    assert "(model 1.1.0) was rolled back" in ks.message
    assert argo.status == "Degraded"
    assert argo.message == f"RolledBack: {ks.message}"


def test_a_first_revision_never_ready_is_in_progress_then_failed_after_its_deadline(
    ferry_operator: RunningOperator, models: ModelDeployments, verdicts: Verdicts
) -> None:
    models.apply(manifest("stuck", annotations='{"sim.ferry.dev/fail": never-ready}', deadline=30))
    _, ks, argo = verdicts.when("stuck", has("Ready", "False", "ReplicasNotReady"), "loading")
    assert (ks.status, argo.status) == ("InProgress", "Progressing")

    # The Deployment controller declares the 30 s deadline exceeded; Ferry says so.
    _, ks, argo = verdicts.when(
        "stuck", has("Stalled", "True", "ProgressDeadlineExceeded"), "past the deadline", 90
    )
    assert ks.status == "Failed"
    assert "spec.rollout.progressDeadlineSeconds (30s)" in ks.message
    assert argo.status == "Degraded"
    assert argo.message == f"ProgressDeadlineExceeded: {ks.message}"


def test_scaling_up_is_in_progress_then_current(
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    verdicts: Verdicts,
    cluster: ClusterAccess,
) -> None:
    models.apply(manifest("scaled", annotations=LOADS_FOR_5S))
    verdicts.when("scaled", serves_its_spec, "serving one replica")
    cluster.kubectl("scale", "md", "scaled", "-n", models.namespace, "--replicas=3")
    _, ks, argo = verdicts.when("scaled", has("Reconciling", "True", "Scaling"), "scaling")
    assert ks.status == "InProgress"
    assert argo.status == "Progressing"
    assert argo.message.startswith("Scaling: ")
    assert "/3 replicas ready" in argo.message

    _, ks, argo = verdicts.when(
        "scaled", lambda o: serves_its_spec(o) and o["status"]["readyReplicas"] == 3, "3 ready"
    )
    assert (ks.status, argo.status) == ("Current", "Healthy")
