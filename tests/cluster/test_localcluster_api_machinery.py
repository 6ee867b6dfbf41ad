"""The API machinery Ferry relies on behaves as Kubernetes documents it: CEL validation,
the status subresource, server-side apply ownership, garbage collection, Pod Security.

World: the real local control plane.
"""

import json
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.cluster.helpers import eventually

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def widget_crd(cluster) -> Any:
    """A throwaway CRD with a CEL rule and a status subresource (group unique per run)."""
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"replicas": {"type": "integer"}},
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.replicas >= 0",
                                            "message": "spec.replicas must be >= 0; set 0 or more",
                                        }
                                    ],
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    cluster.apply_manifest(crd)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
    yield group
    cluster.kubectl("delete", f"crd/widgets.{group}", "--wait=false")


def _widget(group: str, name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
    }


def test_cel_rule_rejects_a_bad_object_with_its_message(cluster, namespace, widget_crd):
    with cluster.api_client() as api:
        custom = client.CustomObjectsApi(api)
        with pytest.raises(ApiException) as rejected:
            custom.create_namespaced_custom_object(
                widget_crd, "v1", namespace, "widgets", _widget(widget_crd, "bad", -1)
            )
        assert rejected.value.status == 422
        assert (
            "spec.replicas must be >= 0; set 0 or more"
            in json.loads(rejected.value.body)["message"]
        )


def test_status_is_written_only_through_the_status_subresource(cluster, namespace, widget_crd):
    with cluster.api_client() as api:
        custom = client.CustomObjectsApi(api)
        args = (widget_crd, "v1", namespace, "widgets")
        custom.create_namespaced_custom_object(*args, _widget(widget_crd, "w", 1))

        # A write to the main resource ignores status...
        custom.patch_namespaced_custom_object(*args, "w", {"status": {"phase": "Main"}})
        assert "status" not in custom.get_namespaced_custom_object(*args, "w")

        # ...and a write to /status ignores spec.
        custom.patch_namespaced_custom_object_status(
            *args, "w", {"spec": {"replicas": 7}, "status": {"phase": "Ready"}}
        )
        widget = custom.get_namespaced_custom_object(*args, "w")
        assert widget["status"] == {"phase": "Ready"}
        assert widget["spec"]["replicas"] == 1


def _apply(cluster, namespace: str, manager: str, data: dict[str, str], force: bool = False):
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shared", "namespace": namespace},
        "data": data,
    }
    args = ["apply", "--server-side", f"--field-manager={manager}", "-f", "-"]
    if force:
        args.append("--force-conflicts")
    return cluster.kubectl(*args, input=json.dumps(manifest), check=False)


def test_server_side_apply_conflicts_between_managers_and_force_takes_ownership(
    cluster, core_api, namespace
):
    assert _apply(cluster, namespace, "alice", {"color": "red"}).returncode == 0

    conflict = _apply(cluster, namespace, "bob", {"color": "blue"})
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()
    assert 'conflict with "alice": .data.color' in conflict.stderr  # names the owner
    assert core_api.read_namespaced_config_map("shared", namespace).data == {"color": "red"}

    assert _apply(cluster, namespace, "bob", {"color": "blue"}, force=True).returncode == 0
    config_map = core_api.read_namespaced_config_map("shared", namespace)
    assert config_map.data == {"color": "blue"}
    owners = {
        entry.manager
        for entry in config_map.metadata.managed_fields
        if "f:data" in (entry.fields_v1 or {})
    }
    assert owners == {"bob"}


def test_deleting_an_owner_garbage_collects_its_dependents(core_api, namespace):
    owner = core_api.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    for i in range(3):
        core_api.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(
                    name=f"dependent-{i}", owner_references=[reference], labels={"dep": "yes"}
                )
            ),
        )
    core_api.delete_namespaced_config_map("owner", namespace)
    eventually(
        lambda: core_api.list_namespaced_config_map(namespace, label_selector="dep=yes").items,
        lambda items: items == [],
        what="dependents to be garbage-collected",
    )


def test_restricted_namespace_rejects_a_privileged_pod(core_api, restricted_namespace):
    def pod(name: str, security: client.V1SecurityContext) -> client.V1Pod:
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="c", image="x", security_context=security)]
            ),
        )

    with pytest.raises(ApiException) as rejected:
        core_api.create_namespaced_pod(
            restricted_namespace, pod("privileged", client.V1SecurityContext(privileged=True))
        )
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "privileged" in message

    compliant = client.V1SecurityContext(
        allow_privilege_escalation=False,
        run_as_non_root=True,
        run_as_user=1000,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    core_api.create_namespaced_pod(restricted_namespace, pod("compliant", compliant))
