"""The NetworkPolicy Ferry writes, enforced on the real node: only the operator's pods reach a
model pod's agent port (stats, readiness verdicts), while anyone reaches its inference port.

"The operator" is what the policy says it is: a pod in the operator's namespace with the
operator's pod labels (FERRY_NAMESPACE, FERRY_POD_LABELS, as the chart sets them). On this
tier the operator process runs on the host, outside any pod, so the check is made from pods:
one with the operator's identity, one in the operator's namespace without its labels, one in
the model's own namespace, and the host. The kubelet's probes come from the node itself and
are not subject to NetworkPolicy: the model stays Ready throughout.

World: the session's local cluster and real node, kube-router's policy controller running in
the node's network namespace for this module only (tests/pods/netpol.py), the operator on
the host, the archive on the host's artifact server.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.images import OPERATOR_IMAGE
from e2e.localcluster import ClusterAccess, LocalCluster
from e2e.localcluster.processes import ClusterError
from ferry import contract
from tests.cluster.helpers import eventually, stays
from tests.cluster.operator_harness import RunningOperator
from tests.pods.artifacts import PodModels
from tests.pods.netpol import policy_enforced
from tests.pods.serving import ModelPod, RealModels, model_deployment, wait_single_ready_pod

pytestmark = pytest.mark.pods

NAME = "fenced"
FENCED_SECONDS = 15  # longer than the readiness probe's 2 failures x 5 s
# What each client tries, from inside its pod: the agent's /stats and a prediction.
TRY_BOTH = """
import json, sys, urllib.request
ip, agent, front = sys.argv[1:4]
def status(url, body=None):
    try:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        return urllib.request.urlopen(request, timeout=3).status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError as error:
        return type(error.reason).__name__  # ConnectionRefusedError, TimeoutError
print(json.dumps({
    "agent": status(f"http://{ip}:{agent}/stats"),
    "inference": status(f"http://{ip}:{front}/predictions/podnet", {"data": [[0.5] * 16]}),
}))
"""
PORTS = (str(contract.AGENT_PORT), str(contract.FRONT_PORT))


@dataclass(frozen=True)
class Fenced:
    models: RealModels
    pod: ModelPod
    since: float  # time.monotonic() when the fence was up


def client_pod(name: str, namespace: str, labels: dict[str, str], node: Any) -> dict[str, Any]:
    """A restricted pod on the real node that idles until the test execs into it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            **node.placement(),
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "client",
                    "image": OPERATOR_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", "import time; time.sleep(3600)"],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def operator_labels(operator: RunningOperator) -> dict[str, str]:
    """The chart's labels of the operator's pods (what it passes as FERRY_POD_LABELS)."""
    return {
        "app.kubernetes.io/name": "ferry",
        "app.kubernetes.io/instance": operator.service_account,
        "app.kubernetes.io/component": "operator",
    }


def tries(cluster: ClusterAccess, namespace: str, pod: str, target: ModelPod) -> dict[str, Any]:
    argv = ("python3", "-c", TRY_BOTH, target.ip, *PORTS)
    out = cluster.kubectl("exec", "-n", namespace, pod, "--", *argv)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def from_host(target: ModelPod) -> dict[str, Any]:
    """The same tries from this host (where the operator process runs in this tier)."""
    out = subprocess.run(
        [sys.executable, "-c", TRY_BOTH, target.ip, *PORTS],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def fenced(
    cluster: ClusterAccess,
    pod_models: PodModels,
    module_models: RealModels,
    pods_operator: RunningOperator,
) -> Iterator[Fenced]:
    """A serving model, then enforcement on; clients in place; enforcement off at the end."""
    if not isinstance(cluster, LocalCluster):
        raise ClusterError("NetworkPolicy enforcement runs on the local cluster's real node")
    node = cluster.real_node
    module_models.apply_md(model_deployment(pod_models.v1, node, NAME))
    module_models.wait_ready(NAME)
    pod = wait_single_ready_pod(module_models, NAME, pod_models.v1.version)
    assert from_host(pod) == {"agent": 200, "inference": 200}  # open before enforcement
    clients = [
        client_pod("operator", pods_operator.namespace, operator_labels(pods_operator), node),
        client_pod("stranger", pods_operator.namespace, {"app": "stranger"}, node),
        client_pod("neighbour", module_models.namespace, {"app": "neighbour"}, node),
    ]
    cluster.apply_manifest(clients)
    for client in clients:
        meta = client["metadata"]
        cluster.kubectl(
            "wait", "-n", meta["namespace"], "--for=condition=Ready", f"pod/{meta['name']}",
            "--timeout=60s",
        )  # fmt: skip
    try:
        with policy_enforced(cluster):
            eventually(lambda: from_host(pod)["agent"], lambda s: s != 200, 30, "the fence up")
            yield Fenced(module_models, pod, time.monotonic())
        assert from_host(pod)["agent"] == 200, "the agent port stayed fenced after enforcement"
    finally:
        for client in clients:
            meta = client["metadata"]
            cluster.kubectl("delete", "pod", "-n", meta["namespace"], meta["name"], "--wait=false")


def test_only_the_operators_pods_reach_the_agent_port(
    cluster: ClusterAccess, pods_operator: RunningOperator, fenced: Fenced
) -> None:
    operator_ns = pods_operator.namespace
    assert tries(cluster, operator_ns, "operator", fenced.pod) == {"agent": 200, "inference": 200}
    refused = {"agent": "ConnectionRefusedError", "inference": 200}
    assert tries(cluster, operator_ns, "stranger", fenced.pod) == refused
    assert tries(cluster, fenced.models.namespace, "neighbour", fenced.pod) == refused
    assert from_host(fenced.pod) == refused


def test_the_policy_does_not_stop_the_kubelet_probing_the_model(fenced: Fenced) -> None:
    """Readiness is the agent's /readyz, probed from the node: the model stays Ready for
    longer than the readiness probe's failure threshold (2 x 5 s) under the fence."""
    models = fenced.models
    watch = max(0.0, FENCED_SECONDS - (time.monotonic() - fenced.since))
    stays(
        lambda: [p.name for p in models.ready_pods(NAME)],
        lambda ready: ready == [fenced.pod.name],
        watch,
        "the model pod Ready under the fence",
    )
    pod = models.core.read_namespaced_pod(fenced.pod.name, models.namespace)
    assert pod.status.container_statuses[0].restart_count == 0
    assert models.condition(NAME, "Ready")["status"] == "True"
