"""Fixtures of the e2e tier: charts/ferry installed by `helm install`, one release per module,
and ModelDeployments in a namespace per test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.e2e.release import ReleaseOperator, operator_of, release_namespace

models = harness.models  # ModelDeployments in `namespace`, read with an admin client


@pytest.fixture
def namespace(restricted_namespace: str) -> str:
    """Models live where Pod Security `restricted` is enforced, as in a careful cluster."""
    return restricted_namespace


@pytest.fixture(scope="module")
def ferry_release(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReleaseOperator]:
    """The chart installed for this module (its own release and namespace), its operator
    running as the release's ServiceAccount; the chart's RBAC must never refuse it."""
    work_dir = tmp_path_factory.mktemp("release")
    with release_namespace(cluster, work_dir) as release:
        release.install()
        with operator_of(release, service_account_kubeconfig, work_dir) as operator:
            yield operator
        assert operator.refusals() == [], f"RBAC refused the operator; logs in {work_dir}"
