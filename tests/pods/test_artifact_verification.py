"""A ModelDeployment whose sha256 does not match its archive: the real `ferry-fetch` in the
real init container downloads the archive, hashes it, refuses it, and says so; the operator
reports `ArtifactChecksumMismatch` with that message, and nothing serves.

World: the session's local cluster and real node, the operator on the host, the archive on
the host's artifact server.
"""

import pytest
import requests

from e2e.localcluster import ClusterAccess
from ferry import contract
from tests.cluster.helpers import stays
from tests.pods.artifact_server import ArtifactServer
from tests.pods.artifacts import PodModels
from tests.pods.serving import READY_SECONDS, RealModels, model_deployment

pytestmark = pytest.mark.pods

WRONG_SHA256 = "0" * 64


def test_a_wrong_sha256_is_refused_by_the_real_fetch_and_nothing_serves(
    cluster: ClusterAccess,
    pod_models: PodModels,
    artifact_server: ArtifactServer,
    real_models: RealModels,
) -> None:
    v1 = pod_models.v1
    document = model_deployment(v1, cluster.real_node, model_overrides={"sha256": WRONG_SHA256})
    real_models.apply_md(document)

    verified = real_models.wait_condition(
        "podnet", "ArtifactVerified", "False", "ArtifactChecksumMismatch", timeout=READY_SECONDS
    )
    # ferry-fetch's own verdict, computed in the pod over the bytes it downloaded.
    uri = f"{artifact_server.url}/{v1.version}/podnet.mar"
    assert (
        f"sha256 mismatch for {uri}: got {v1.sha256}, expected {WRONG_SHA256}"
        in (verified["message"])
    ), verified
    assert artifact_server.fetched(f"/{v1.version}/podnet.mar") >= 1
    ready = real_models.condition("podnet", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ArtifactChecksumMismatch"), ready

    pod = real_models.core.list_namespaced_pod(real_models.namespace).items[0]
    assert pod.spec.node_name == cluster.real_node.name
    fetch = pod.status.init_container_statuses[0]
    terminated = fetch.state.terminated or fetch.last_state.terminated
    assert terminated.exit_code == contract.FetchExit.CHECKSUM_MISMATCH
    # The serving container never started: nothing was loaded from the refused bytes.
    serving = pod.status.container_statuses[0]
    assert serving.state.waiting is not None
    assert serving.restart_count == 0

    url = real_models.prediction_url("podnet", "podnet")

    def answers() -> bool:
        try:
            requests.post(url, json={"data": [[0.0] * 16]}, timeout=3)
        except requests.ConnectionError:
            return False  # kube-proxy rejects a Service without ready endpoints
        return True

    stays(
        lambda: (real_models.ready_pods("podnet"), answers()),
        lambda seen: seen == ([], False),
        3,
        "no ready pod and no answer through the Service",
    )
