"""Session-wide fixtures: the cluster, a namespace per test, ServiceAccount credentials.

Tiers are markers (unit, cluster, torchserve, pods, e2e). Every test must carry exactly one,
and a tier whose prerequisites are missing fails loudly: nothing here ever skips. The
session's cluster runs a real kubelet node when a selected test needs one (the pods and e2e
tiers); kwok alone serves the cluster tier.
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.clusters import session_cluster
from e2e.localcluster import ClusterAccess

TIERS = ("unit", "cluster", "torchserve", "pods", "e2e")
REAL_NODE_TIERS = ("pods", "e2e")
NEEDS_REAL_NODE = pytest.StashKey[bool]()
RESTRICTED_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@pytest.hookimpl(trylast=True)  # after `-m` has deselected what does not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_real_node = False
    for item in items:
        tiers = [m.name for m in item.iter_markers() if m.name in TIERS]
        if len(tiers) != 1:
            raise pytest.UsageError(
                f"{item.nodeid}: needs exactly one tier marker of {TIERS}, has {tiers}"
            )
        needs_real_node = needs_real_node or tiers[0] in REAL_NODE_TIERS
    config.stash[NEEDS_REAL_NODE] = needs_real_node


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterAccess]:
    """One cluster for the whole session (see e2e/clusters.py for FERRY_CLUSTER)."""
    real_node = request.config.stash.get(NEEDS_REAL_NODE, True)
    with session_cluster(tmp_path_factory.mktemp("cluster"), real_node=real_node) as access:
        yield access


@pytest.fixture(scope="session")
def core_api(cluster: ClusterAccess) -> Iterator[client.CoreV1Api]:
    with cluster.api_client() as api:
        yield client.CoreV1Api(api)


def _namespace(
    core_api: client.CoreV1Api, request: pytest.FixtureRequest, labels: dict[str, str]
) -> Iterator[str]:
    test_name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    name = f"{test_name[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
    core_api.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    yield name
    core_api.delete_namespace(name)


@pytest.fixture
def namespace(core_api: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    yield from _namespace(core_api, request, {})


@pytest.fixture
def restricted_namespace(
    core_api: client.CoreV1Api, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh namespace whose Pod Security admission enforces the `restricted` profile."""
    yield from _namespace(core_api, request, RESTRICTED_LABELS)


@pytest.fixture(scope="module")
def module_restricted_namespace(
    core_api: client.CoreV1Api, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A restricted namespace shared by the tests of one module (where what they look at,
    real model pods say, takes long to start), deleted after the module."""
    yield from _namespace(core_api, request, RESTRICTED_LABELS)


@pytest.fixture(scope="session")
def service_account_kubeconfig(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], Path]:
    """Make a kubeconfig that authenticates as a ServiceAccount, so code under test runs
    with exactly that account's RBAC, not as admin."""
    directory = tmp_path_factory.mktemp("sa-kubeconfigs")

    def make(namespace: str, name: str) -> Path:
        return cluster.service_account_kubeconfig(
            namespace, name, directory / f"{namespace}-{name}.kubeconfig"
        )

    return make
