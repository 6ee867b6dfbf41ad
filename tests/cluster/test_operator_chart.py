"""The Helm chart: lints and renders clean, grants least privilege, and its operator pod is
admitted where Pod Security `restricted` is enforced.

World: helm (lint/template) and the local control plane's API server, RBAC authorizer and
PodSecurity admission; kwok "runs" the operator pod (no container actually runs here).
"""

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.demo_operator import CHART, helm_binary, render_chart
from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually

pytestmark = pytest.mark.cluster


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, check=False)


def test_helm_lint_is_clean() -> None:
    linted = helm("lint", "--strict", str(CHART))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout


def test_values_schema_rejects_nonsense() -> None:
    rendered = helm("template", "ferry", str(CHART), "--set", "operator.resyncSeconds=-1")
    assert rendered.returncode != 0
    assert "resyncSeconds" in rendered.stderr


def test_rbac_is_least_privilege() -> None:
    objects = render_chart("ferry", "ferry-system")
    roles = {d["metadata"]["name"]: d for d in objects if d["kind"] == "ClusterRole"}
    assert set(roles) == {"ferry", "ferry-rollout-actions"}
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            assert "secrets" not in rule["resources"], rule
    assert not any(d["kind"] == "Role" for d in objects)
    # Steering rollouts: read, and patch (the admission policy limits it to the annotations).
    steering = {
        (group, resource): set(rule["verbs"])
        for rule in roles["ferry-rollout-actions"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert steering == {
        ("serving.ferry.dev", "modeldeployments"): {"get", "list", "watch", "patch"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "events"): {"get", "list", "watch"},
    }


def test_rollout_actions_role_and_policy_are_optional() -> None:
    kinds = {
        (d["kind"], d["metadata"]["name"])
        for d in render_chart("ferry", "ferry-system", "--set", "rolloutActions.enabled=false")
    }
    assert ("ClusterRole", "ferry") in kinds
    assert not {k for k in kinds if k[1] == "ferry-rollout-actions"}


@pytest.fixture
def installed(cluster: ClusterAccess, restricted_namespace: str) -> Iterator[dict[str, Any]]:
    """The rendered chart applied into a namespace that enforces `restricted`."""
    release = f"ferry-{restricted_namespace[-6:]}"
    objects = render_chart(release, restricted_namespace)
    applied = cluster.kubectl(
        "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects), check=False
    )
    yield {"release": release, "namespace": restricted_namespace, "applied": applied}
    cluster.kubectl("delete", "clusterrole,clusterrolebinding", release, "--ignore-not-found")
    cluster.kubectl(
        "delete", "clusterrole,validatingadmissionpolicy,validatingadmissionpolicybinding",
        f"{release}-rollout-actions", "--ignore-not-found",
    )  # fmt: skip


def test_chart_applies_and_its_pod_is_admitted_under_restricted(
    cluster: ClusterAccess, installed: dict[str, Any]
) -> None:
    assert installed["applied"].returncode == 0, installed["applied"].stderr
    assert "Warning" not in installed["applied"].stderr  # no PodSecurity warnings either
    namespace = installed["namespace"]

    def pod_phases() -> list[str]:
        listed = cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
        return [p["status"].get("phase", "") for p in json.loads(listed)["items"]]

    eventually(pod_phases, lambda phases: phases == ["Running"], timeout=60, what="operator pod")


def test_service_account_can_do_what_the_operator_needs_and_no_more(
    cluster: ClusterAccess, installed: dict[str, Any]
) -> None:
    account = f"system:serviceaccount:{installed['namespace']}:{installed['release']}"

    def can(*request: str) -> bool:
        answer = cluster.kubectl("auth", "can-i", *request, "--as", account, check=False)
        return answer.stdout.strip() == "yes"

    # `kubectl auth can-i VERB RESOURCE/NAME`: subresources go in --subresource.
    assert can("patch", "modeldeployments.serving.ferry.dev", "--subresource=status", "-A")
    for verb, resource in [
        ("watch", "modeldeployments.serving.ferry.dev"),
        ("patch", "deployments.apps"),
        ("create", "networkpolicies.networking.k8s.io"),
        ("delete", "poddisruptionbudgets.policy"),
        ("watch", "pods"),
        ("create", "events"),
    ]:
        assert can(verb, resource, "-A"), (verb, resource)
    for verb, resource in [
        ("get", "secrets"),
        ("list", "secrets"),
        ("delete", "modeldeployments.serving.ferry.dev"),
        ("update", "modeldeployments.serving.ferry.dev"),
        ("patch", "modeldeployments.serving.ferry.dev"),  # status only, never the user's spec
        ("create", "pods"),
        ("delete", "nodes"),
    ]:
        assert not can(verb, resource, "-A"), (verb, resource)
