"""Install and uninstall: from `helm install` to `helm uninstall`, as the chart's NOTES say.

World: the session's local control plane (real API server, RBAC, Pod Security admission,
controllers and scheduler; kwok nodes and pods for the models, one real kubelet node).
charts/ferry is installed by the helm binary built here into a namespace that enforces Pod
Security `restricted`; its operator pod runs the operator image on the real node
(tests/e2e/release.py).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.demo_operator import CRD, REPO
from e2e.images import OPERATOR_IMAGE
from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments
from tests.e2e.release import HelmRelease, ReleaseOperator, release_namespace

pytestmark = pytest.mark.e2e

CPU_EXAMPLE = REPO / "examples" / "cpu-model.yaml"
# What every namespace holds from birth.
NAMESPACE_DEFAULTS = frozenset({"configmap/kube-root-ca.crt", "serviceaccount/default"})


@pytest.fixture
def release(cluster: ClusterAccess, tmp_path: Path) -> Iterator[HelmRelease]:
    with release_namespace(cluster, tmp_path) as created:
        yield created


def leftovers(cluster: ClusterAccess, namespace: str) -> list[str]:
    kinds = "all,configmaps,secrets,serviceaccounts,networkpolicies,poddisruptionbudgets,md"
    listed = cluster.kubectl("get", kinds, "-n", namespace, "-o", "name").stdout.split()
    return [name for name in listed if name not in NAMESPACE_DEFAULTS]


def test_install_serve_and_uninstall_in_the_documented_order(
    cluster: ClusterAccess,
    release: HelmRelease,
    models: ModelDeployments,
) -> None:
    installed = release.install()
    assert "PodSecurity" not in installed.stderr, installed.stderr
    status = release.status()["info"]
    assert status["status"] == "deployed"
    notes = status["notes"]
    assert notes.index("kubectl delete modeldeployments --all") < notes.index(
        f"helm uninstall {release.name} -n {release.namespace}"
    ), notes
    with cluster.api_client() as api:
        (pod,) = client.CoreV1Api(api).list_namespaced_pod(release.namespace).items
    assert pod.spec.service_account_name == release.name
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"

    assert pod.spec.node_name == cluster.real_node.name  # a real container, not kwok
    (container,) = pod.spec.containers
    assert container.image == OPERATOR_IMAGE
    operator = ReleaseOperator(release)
    models.apply(CPU_EXAMPLE)
    cluster.kubectl(
        "wait", "-n", models.namespace, "--for=condition=Ready", "md/tiny-mlp",
        "--timeout=60s",
    )  # fmt: skip
    # Uninstall step 1, while the operator runs (only this test's namespace: the NOTES
    # say --all-namespaces, which here would take other tests' models too).
    cluster.kubectl(
        "delete", "modeldeployments", "--all", "-n", models.namespace, "--wait",
        "--timeout=30s",
    )  # fmt: skip
    assert operator.refusals() == [], f"RBAC refused the operator: {operator.log()}"

    release.uninstall()
    gone = release.helm("status", release.name, check=False)
    assert gone.returncode != 0
    assert "not found" in gone.stderr
    for kind in ("clusterrole", "clusterrolebinding"):
        found = cluster.kubectl("get", kind, release.name, "--ignore-not-found", "-o", "name")
        assert found.stdout == "", f"{kind} {release.name} survived the uninstall"
    eventually(
        lambda: leftovers(cluster, release.namespace),
        lambda names: names == [],
        timeout=60,
        what="the release's namespace emptied by helm uninstall",
    )
    assert cluster.kubectl("get", "crd", CRD, "-o", "name").stdout.strip() == (
        f"customresourcedefinition.apiextensions.k8s.io/{CRD}"
    ), "Helm keeps the CRD of crds/ on uninstall"
    # The garbage collector starts watching a new kind (the CRD this release brought) at
    # its next discovery sync, every 30 s: on a fresh cluster, children of a ModelDeployment
    # deleted sooner go only then.
    eventually(
        lambda: leftovers(cluster, models.namespace),
        lambda names: names == [],
        timeout=90,
        what="nothing left of the model",
    )
