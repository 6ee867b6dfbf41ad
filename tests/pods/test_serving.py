"""The manifest `ferry package` writes, applied as it is, serves the packaged model on a real
pod: Ready because the model answers (its golden request included), a prediction through the
Service's ClusterIP equal to the model called in-process, the container locked down as Pod
Security `restricted` promises, and the pod's agent counting what clients sent.

World: the session's local cluster with its real kubelet node, the operator with the chart's
RBAC on the host, the archive served over HTTP from the host address pods reach. One
ModelDeployment serves every test of this module (a model pod takes 15-20 s to start).
"""

import re
from dataclasses import dataclass

import pytest
import yaml

from e2e.images import SERVING_IMAGE
from e2e.localcluster import ClusterAccess
from ferry import contract
from tests.pods.artifact_server import ArtifactServer
from tests.pods.artifacts import PROBE_ROWS, PodModels, close
from tests.pods.serving import (
    ModelPod,
    RealModels,
    agent,
    first_answer,
    predict,
    wait_single_ready_pod,
)

pytestmark = pytest.mark.pods

NAME = "podnet"  # what `ferry package --name podnet` calls the ModelDeployment
ROWS = [[float(i % 5) - 2.0 for i in range(16)], [0.5] * 16, [-1.5] * 16]


@dataclass(frozen=True)
class Served:
    models: RealModels
    pod: ModelPod
    url: str  # predictions through the Service's ClusterIP


@pytest.fixture(scope="module")
def served(cluster: ClusterAccess, pod_models: PodModels, module_models: RealModels) -> Served:
    """The packaged v1 manifest, with only `spec.placement` added, applied with kubectl."""
    document = yaml.safe_load(pod_models.v1.manifest.read_text())
    assert "placement" not in document["spec"]
    document["spec"]["placement"] = cluster.real_node.placement()
    module_models.apply(yaml.safe_dump(document, sort_keys=False))
    module_models.wait_ready(NAME)
    pod = wait_single_ready_pod(module_models, NAME, pod_models.v1.version)
    return Served(module_models, pod, module_models.prediction_url(NAME, "podnet"))


def test_the_packaged_manifest_serves_the_packaged_model(
    cluster: ClusterAccess,
    pod_models: PodModels,
    artifact_server: ArtifactServer,
    served: Served,
) -> None:
    models, v1 = served.models, pod_models.v1
    ready = models.condition(NAME, "Ready")
    assert ready["reason"] == "Serving", ready
    assert models.condition(NAME, "ArtifactVerified")["reason"] == "Verified"
    healthy = models.condition(NAME, "ModelHealthy")
    assert (healthy["status"], healthy["reason"]) == ("True", "ModelAnswers"), healthy
    status = models.get(NAME)["status"]
    assert status["modelVersion"] == v1.version
    assert status["image"] == SERVING_IMAGE  # the operator's default: the manifest names none

    # A real container on the real node fetched the archive from the host and answers its
    # golden request: the readiness the pod reports is the agent's verdict on the model.
    pod = models.core.read_namespaced_pod(served.pod.name, models.namespace)
    assert pod.spec.node_name == cluster.real_node.name
    assert artifact_server.fetched(f"/{v1.version}/podnet.mar") >= 1
    probe = next(c for c in pod.spec.containers if c.name == contract.SERVE_CONTAINER)
    assert probe.readiness_probe.http_get.path == contract.READINESS_PATH
    assert agent(served.pod, contract.READINESS_PATH) == (200, {"ready": True})

    status_code, answer = first_answer(served.url, ROWS)
    assert status_code == 200, answer
    assert close(answer, v1.answer(ROWS)), (answer, v1.answer(ROWS))
    assert close(predict(served.url, PROBE_ROWS)[1], v1.answer(PROBE_ROWS))


def test_the_serving_container_runs_as_the_restricted_profile_promises(
    cluster: ClusterAccess, served: Served
) -> None:
    ns, pod = served.models.namespace, served.pod.name
    exec_in = ("exec", "-n", ns, pod, "-c", contract.SERVE_CONTAINER, "--")
    # PID 1 is the container's own command (ferry-serve, supervising TorchServe).
    status = cluster.kubectl(*exec_in, "cat", "/proc/1/status").stdout
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.MULTILINE))
    assert fields["Uid"].split() == ["1000"] * 4, fields["Uid"]
    assert fields["Gid"].split() == ["1000"] * 4, fields["Gid"]
    assert int(fields["CapEff"], 16) == 0, fields["CapEff"]
    assert int(fields["CapPrm"], 16) == 0, fields["CapPrm"]
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"  # a seccomp filter (RuntimeDefault)
    # Every process of the container (Java and the Python worker too) runs as 1000.
    owners = cluster.kubectl(
        *exec_in, "python3", "-c",
        "import os; print(sorted({os.stat(f'/proc/{p}').st_uid"
        " for p in os.listdir('/proc') if p.isdigit()}))",
    ).stdout  # fmt: skip
    assert owners.strip() == "[1000]"
    written = cluster.kubectl(*exec_in, "touch", "/etc/ferry-was-here", check=False)
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr
    root_mount = cluster.kubectl(*exec_in, "awk", '$2 == "/" {print $4}', "/proc/mounts")
    assert root_mount.stdout.split(",")[0] == "ro"
    # The archive is readable but not writable for the serving process.
    tampered = cluster.kubectl(*exec_in, "touch", f"{contract.MODEL_STORE_DIR}/x", check=False)
    assert "Read-only file system" in tampered.stderr


def test_the_agent_counts_the_requests_clients_sent(served: Served) -> None:
    _, before = agent(served.pod, contract.STATS_PATH)
    answered = [predict(served.url, ROWS)[0] for _ in range(5)]
    refused = predict(served.url, [[1.0], [1.0, 2.0]])[0]  # not a rectangular batch
    assert answered == [200] * 5
    assert refused == 400
    _, after = agent(served.pod, contract.STATS_PATH)
    assert after["model"] == "podnet"
    assert after["version"] == "1.0.0"
    assert after["requests"]["total"] - before["requests"]["total"] == 6
    assert after["requests"]["errors4xx"] - before["requests"]["errors4xx"] == 1
    assert after["requests"]["errors5xx"] == before["requests"]["errors5xx"]
    assert after["latencyMicrosSum"] > before["latencyMicrosSum"]
    assert after["workers"] == {"ready": 1, "total": 1}
