"""A standby operator: two replicas on one Lease; only the leader writes; killing it hands
over and a rollout in flight carries on from its step.

World: the local control plane with kwok pods; the chart rendered with leader election and
its RBAC (a namespaced Role for the Lease) installed; both replicas run as local processes
with the chart's ServiceAccount token, as the cluster tier runs the operator.
"""

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.demo_operator import OperatorProcess, install_access, render_chart, start_operator
from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments

models = harness.models

pytestmark = pytest.mark.cluster

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
MANIFEST = f"""
apiVersion: serving.ferry.dev/v1alpha1
kind: ModelDeployment
metadata: {{name: steady}}
spec:
  model: {{name: steady, version: "VERSION", uri: "s3://models/steady.mar", sha256: {SHA}}}
  resources: {{cpu: 100m, memory: 256Mi}}
  replicas: 4
  rollout:
    steps: [{{weight: 25, pause: {{duration: 12s}}}}, {{weight: 50, pause: {{duration: 12s}}}}]
"""


def metric(operator: OperatorProcess, name: str) -> float:
    pattern = re.compile(rf"^{name}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for _, value in pattern.findall(operator.metrics()))


@pytest.fixture
def replicas(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    tmp_path: Path,
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    suffix = uuid.uuid4().hex[:6]
    namespace, release = f"ferry-system-{suffix}", f"ferry-{suffix}"
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=namespace, labels=harness.RESTRICTED)
            )
        )
        objects = render_chart(release, namespace, "--set", "replicas=2",
                               "--set", "leaderElection.enabled=true")  # fmt: skip
        install_access(cluster, objects)
        kubeconfig = service_account_kubeconfig(namespace, release)

        def replica(n: int) -> OperatorProcess:
            return start_operator(
                kubeconfig, namespace, release, tmp_path / f"operator-{n}.log",
                LEADER_ELECTION="true", LEASE_NAME=release, RESYNC_SECONDS="10",
            )  # fmt: skip

        first = replica(1)
        eventually(lambda: metric(first, "ferry_leader"), lambda v: v == 1, 30, "a leader")
        second = replica(2)
        try:
            yield first, second
        finally:
            for process in (first, second):
                process.stop()
            core.delete_namespace(namespace)
            cluster_wide = [
                f"{o['kind'].lower()}/{o['metadata']['name']}"
                for o in objects
                if "namespace" not in o["metadata"] and o["kind"] != "CustomResourceDefinition"
            ]
            cluster.kubectl("delete", "--ignore-not-found", "--wait=false", *cluster_wide)


def test_only_the_leader_writes_and_a_killed_leader_hands_over_mid_rollout(
    replicas: tuple[OperatorProcess, OperatorProcess], models: ModelDeployments
) -> None:
    leader, standby = replicas
    assert standby.healthy()  # the standby answers its liveness probe while it waits
    models.apply(MANIFEST.replace("VERSION", "1.0.0"))
    models.wait_condition("steady", "Ready", "True", timeout=30)
    models.apply(MANIFEST.replace("VERSION", "2.0.0"))
    eventually(lambda: (models.get("steady")["status"].get("rollout") or {}).get("step"),
               lambda step: step == 1, 30, "the rollout at step 1")  # fmt: skip
    assert metric(leader, "ferry_api_writes_total") > 0
    assert (metric(standby, "ferry_leader"), metric(standby, "ferry_api_writes_total")) == (0, 0)

    leader.process.kill()  # SIGKILL: no chance to give the lease up
    killed = time.monotonic()
    eventually(lambda: metric(standby, "ferry_leader"), lambda v: v == 1, 60, "a new leader")
    handover = time.monotonic() - killed
    steps: list[int] = []

    def promoted() -> bool:
        status = models.get("steady")["status"]
        if status.get("rollout"):
            steps.append(status["rollout"]["step"])
        return bool(status.get("stableRevision") == status.get("revision"))

    eventually(promoted, bool, 90, "the rollout finished by the new leader")
    assert steps == sorted(steps), f"the rollout went back a step: {steps}"
    assert steps[0] >= 1
    history = models.get("steady")["status"]["history"]
    assert [e["outcome"] for e in history] == ["Promoted", "Promoted"]
    print(f"handover after SIGKILL of the leader: {handover:.1f}s")
