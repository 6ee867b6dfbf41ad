"""The CRD rejects malformed ModelDeployments at admission, naming the field.

World: the local control plane's API server (schema, defaults and CEL are the real ones); no
operator runs: admission alone must stop these. The corpus lives in tests/malformed/, one
manifest per mistake, its first lines saying what is wrong and which field must be named.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.demo_operator import REPO
from e2e.localcluster import ClusterAccess
from tests.cluster.operator_harness import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.cluster

CORPUS = sorted((REPO / "tests" / "malformed").glob("*.yaml"))


def expected_field(path: Path) -> str:
    header = next(line for line in path.read_text().splitlines() if line.startswith("# rejects:"))
    return header.removeprefix("# rejects:").strip()


@pytest.fixture(scope="module")
def custom(cluster: ClusterAccess) -> Iterator[client.CustomObjectsApi]:
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}")
    with cluster.api_client() as api:
        yield client.CustomObjectsApi(api)


def create(api: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> None:
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


def test_every_malformed_manifest_is_rejected_naming_its_field(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    unexpected = {}
    for path in CORPUS:
        try:
            create(custom, namespace, yaml.safe_load(path.read_text()))
        except ApiException as refused:
            message = str(yaml.safe_load(refused.body).get("message", ""))
            if refused.status != 422 or expected_field(path) not in message:
                unexpected[path.name] = message
        else:
            unexpected[path.name] = "accepted"
    assert unexpected == {}


def test_examples_are_accepted(custom: client.CustomObjectsApi, namespace: str) -> None:
    for path in sorted((REPO / "examples").glob("*.yaml")):
        create(custom, namespace, yaml.safe_load(path.read_text()))


def test_fixing_the_field_is_accepted(custom: client.CustomObjectsApi, namespace: str) -> None:
    body = yaml.safe_load((REPO / "tests/malformed/sha256-too-short.yaml").read_text())
    body["spec"]["model"]["sha256"] = (
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )
    create(custom, namespace, body)
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "bad")
    assert stored["spec"]["replicas"] == 1  # defaults applied
    assert stored["spec"]["rollout"]["progressDeadlineSeconds"] == 600
