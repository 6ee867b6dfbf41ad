"""Fixtures of the e2e tier: charts/ferry installed by `helm install` (its operator in a pod
on the real node), one release per module, and ModelDeployments in a namespace per test."""

from collections.abc import Iterator

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.e2e.release import ReleaseOperator, release_namespace

models = harness.models  # ModelDeployments in `namespace`, read with an admin client


@pytest.fixture
def namespace(restricted_namespace: str) -> str:
    """Models live where Pod Security `restricted` is enforced, as in a careful cluster."""
    return restricted_namespace


@pytest.fixture(scope="module")
def ferry_release(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReleaseOperator]:
    """The chart installed for this module (its own release and namespace), its operator
    running in the release's pod; the chart's RBAC must never refuse it."""
    with release_namespace(cluster, tmp_path_factory.mktemp("release")) as release:
        release.install()
        operator = ReleaseOperator(release)
        yield operator
        assert operator.refusals() == [], "RBAC refused the operator"
