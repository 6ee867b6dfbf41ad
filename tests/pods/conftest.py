"""Fixtures of the pods tier: real model pods on the local cluster's real kubelet node.

The session builds the model versions once (`artifacts.py`, `ferry package`), serves them
from an HTTP server on the host address pods reach, and runs one operator with the chart's
RBAC (as the cluster tier does) whose default CPU serving image is the locally built one. The
operator runs on this host: it reaches model pods' agent ports directly, by pod IP.
Every test gets a namespace where Pod Security `restricted` is enforced.

    def test_x(cluster, pod_models, real_models):
        real_models.apply_md(model_deployment(pod_models.v1, cluster.real_node))
        real_models.wait_ready("podnet")
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.images import SERVING_IMAGE
from e2e.localcluster import ClusterAccess
from tests.cluster.operator_harness import RunningOperator, operator_running
from tests.pods.artifact_server import ArtifactServer
from tests.pods.artifacts import PodModels, build_models
from tests.pods.scaling import AUTOSCALE_INTERVAL_SECONDS
from tests.pods.serving import RealModels


@pytest.fixture(scope="session")
def artifact_server(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArtifactServer]:
    """Serves the session's archives on the host address pods reach (RealNode.host_ip)."""
    with ArtifactServer(cluster.real_node.host_ip, tmp_path_factory.mktemp("artifacts")) as server:
        yield server


@pytest.fixture(scope="session")
def pod_models(artifact_server: ArtifactServer) -> PodModels:
    """Every model version, packaged once per session into the artifact server's directory."""
    return build_models(artifact_server.directory, artifact_server.url)


@pytest.fixture(scope="session")
def pods_operator(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOperator]:
    """One operator for the tier, with the chart's RBAC; it must never be refused. Only
    ModelDeployments with spec.autoscaling are evaluated, so the short interval changes
    nothing for the other tests."""
    with operator_running(
        cluster,
        service_account_kubeconfig,
        tmp_path_factory.mktemp("operator"),
        SERVING_IMAGE_CPU=SERVING_IMAGE,
        AUTOSCALE_INTERVAL_SECONDS=str(AUTOSCALE_INTERVAL_SECONDS),
    ) as running:
        yield running
        assert running.refusals() == [], f"the chart's RBAC refused the operator: {running.log}"


@pytest.fixture
def real_models(
    cluster: ClusterAccess, restricted_namespace: str, pods_operator: RunningOperator
) -> Iterator[RealModels]:
    """ModelDeployments in this test's restricted namespace, the operator running."""
    models = RealModels(cluster, restricted_namespace)
    yield models
    models.close()


@pytest.fixture(scope="module")
def module_models(
    cluster: ClusterAccess, module_restricted_namespace: str, pods_operator: RunningOperator
) -> Iterator[RealModels]:
    """ModelDeployments in a restricted namespace shared by one module's tests."""
    models = RealModels(cluster, module_restricted_namespace)
    yield models
    models.close()
