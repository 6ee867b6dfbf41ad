"""Gateway API traffic splitting on the real API server: with spec.traffic.httpRoute the
HTTPRoute Ferry writes carries each step's exact weight over a stable and a canary Service
(whatever the replica counts), and removing spec.traffic removes the route and both
Services.

World: the local control plane with the Gateway API CRDs (standard channel) installed from
the `sigs.k8s.io/gateway-api` Go module (e2e/gateway_api.py), so the API server validates
and defaults the route as any cluster with the Gateway API would. No gateway implementation
runs: what is proven is the route's content, and that the Services select the right pods
(their EndpointSlices, kept by the real EndpointSlice controller).
"""

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.gateway_api import install_gateway_api
from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster import rollouts as r
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

NAME = "clip"
ROUTE_GROUP, ROUTE_VERSION = "gateway.networking.k8s.io", "v1"
TRAFFIC = {"httpRoute": {"parentRefs": [{"name": "gw"}], "hostnames": ["clip.example.com"]}}
# Weights that replica counts cannot express on 4 replicas (10 % of 4 is a whole pod: 25 %).
STEPS = [r.until_promoted(10), r.until_promoted(60)]


@pytest.fixture(scope="session")
def gateway_api(cluster: ClusterAccess) -> None:
    install_gateway_api(cluster)


def route(models: ModelDeployments) -> dict[str, Any]:
    found: dict[str, Any] = models.custom.get_namespaced_custom_object(
        ROUTE_GROUP, ROUTE_VERSION, models.namespace, "httproutes", NAME
    )
    return found


def weights(models: ModelDeployments) -> dict[str, int]:
    (rule,) = route(models)["spec"]["rules"]
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def split(stable: int, canary: int) -> dict[str, int]:
    return {f"{NAME}-stable": stable, f"{NAME}-canary": canary}


def selected_revision(models: ModelDeployments, service: str) -> str:
    selector = models.core.read_namespaced_service(service, models.namespace).spec.selector
    return str(selector[r.REVISION])


def endpoint_ips(models: ModelDeployments, service: str) -> set[str]:
    slices = models.discovery.list_namespaced_endpoint_slice(
        models.namespace, label_selector=f"kubernetes.io/service-name={service}"
    ).items
    return {
        address
        for piece in slices
        for endpoint in piece.endpoints or ()
        if endpoint.conditions.ready
        for address in endpoint.addresses
    }


def ready_pod_ips(models: ModelDeployments, revision: str) -> set[str]:
    pods = models.core.list_namespaced_pod(
        models.namespace, label_selector=f"{r.REVISION}={revision}"
    ).items
    return {
        p.status.pod_ip
        for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())
    }


def routed_as(
    models: ModelDeployments, stable: int, canary: int, revisions: tuple[str, str]
) -> None:
    """The route splits stable/canary so, each Service selects its revision, and its
    endpoints are exactly that revision's ready pods."""
    eventually(lambda: weights(models), lambda w: w == split(stable, canary), 20, "route weights")
    for role, revision in zip(("stable", "canary"), revisions, strict=True):
        service = f"{NAME}-{role}"
        assert selected_revision(models, service) == revision

        def serving(service: str = service, revision: str = revision) -> tuple[set[str], set[str]]:
            return endpoint_ips(models, service), ready_pod_ips(models, revision)

        eventually(
            serving,
            lambda seen: seen[0] == seen[1] and bool(seen[0]),
            20,
            f"{service}'s endpoints: the ready pods of {revision}",
        )


def test_the_http_route_carries_each_steps_weight_and_goes_with_spec_traffic(
    gateway_api: None, ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(r.manifest(NAME, "1.0.0", steps=STEPS, traffic=TRAFFIC))
    stable = r.wait_status(models, NAME, lambda s: bool(s.get("stableRevision")), "1.0.0 stable")[
        "stableRevision"
    ]
    stored = route(models)
    assert stored["spec"]["parentRefs"] == [
        {"group": ROUTE_GROUP, "kind": "Gateway", "name": "gw"}  # the API server's defaults
    ]
    assert stored["spec"]["hostnames"] == ["clip.example.com"]
    (owner,) = stored["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ModelDeployment", NAME, True)
    routed_as(models, 100, 0, (stable, stable))

    models.apply(r.manifest(NAME, "1.1.0", steps=STEPS, traffic=TRAFFIC))
    canary = r.wait_status(models, NAME, r.at_step(1, "Paused"), "paused at 10 %")["canaryRevision"]
    routed_as(models, 90, 10, (stable, canary))
    assert r.status(models, NAME)["canaryWeight"] == 10  # the route's share, not 1 pod of 4
    assert r.replicas_by_revision(models, NAME) == {stable: 3, canary: 1}

    r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/1")
    r.wait_status(models, NAME, r.at_step(2, "Paused"), "paused at 60 %")
    routed_as(models, 40, 60, (stable, canary))
    assert r.status(models, NAME)["canaryWeight"] == 60
    assert r.replicas_by_revision(models, NAME) == {stable: 1, canary: 3}

    r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/2")
    r.wait_status(models, NAME, r.promoted(canary), "promoted")
    routed_as(models, 100, 0, (canary, canary))

    models.apply(r.manifest(NAME, "1.1.0", steps=STEPS))  # spec.traffic removed

    def role_children() -> list[str]:
        found = []
        for kind, read in (
            ("HTTPRoute", lambda: route(models)),
            ("Service/stable", lambda: models.core.read_namespaced_service(
                f"{NAME}-stable", models.namespace)),
            ("Service/canary", lambda: models.core.read_namespaced_service(
                f"{NAME}-canary", models.namespace)),
        ):  # fmt: skip
            try:
                read()
                found.append(kind)
            except ApiException as error:
                if error.status != 404:
                    raise
        return found

    eventually(role_children, lambda left: left == [], 20, "route and role Services deleted")
    assert models.core.read_namespaced_service(NAME, models.namespace).spec.selector == {
        r.MODEL_DEPLOYMENT: NAME
    }, "the model's own Service stays, over every revision"
    assert r.condition(r.status(models, NAME), "Ready")["status"] == "True"
