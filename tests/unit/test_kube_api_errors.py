"""Which refusals of the API server a reconcile retries, and which it reports in status."""

import pytest

from ferry.kube.api import ApiError

pytestmark = pytest.mark.unit

RBAC = (
    'deployments.apps "m-abc" is forbidden: User "system:serviceaccount:ferry-system:ferry"'
    ' cannot patch resource "deployments" in API group "apps" in the namespace "models"'
)
QUOTA = 'pods "m-abc" is forbidden: exceeded quota: compute, requested: nvidia.com/gpu=1'


@pytest.mark.parametrize(
    ("status", "message", "retried"),
    [
        (403, RBAC, True),  # an API server still filling its RBAC caches, or a missing rule
        (403, QUOTA, False),  # the user's to fix: reported
        (422, "spec.replicas: Invalid value", False),
        (409, "the object has been modified", True),
        (503, "connection refused", True),
    ],
)
def test_the_operators_own_access_denied_is_retried_a_quota_is_reported(
    status: int, message: str, retried: bool
) -> None:
    assert ApiError(status, message).transient is retried
