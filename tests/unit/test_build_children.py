"""Pure builders: determinism, revision identity, and the pod contract (unit world: pure)."""

import json
from typing import Any

import pytest

from ferry import contract
from ferry.api.parse import parse_model_deployment
from ferry.build.children import Shape, desired_children
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.runtime.supervisor import STOP_GRACE_SECONDS
from ferry.torchserve.config import ServingConfig, render_config_properties
from ferry.torchserve.settings import ServeSettings
from tests.unit.md_samples import SHA, model_deployment, with_spec
from tests.unit.pod_security import restricted_violations

pytestmark = pytest.mark.unit

KUBERNETES_DEFAULT_GRACE_SECONDS = 30  # a pod's terminationGracePeriodSeconds when unset
OPERATOR = OperatorIdentity("ferry-system", {"app.kubernetes.io/name": "ferry"})


def children(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A steady ModelDeployment's children: its one revision stable, every replica on it."""
    md = parse_model_deployment(body)
    revision, total = revision_of(md), md.spec.replicas
    shape = Shape(replicas=total, total=total, stable=revision, canary="", canary_weight=0)
    return {c["kind"]: c for c in desired_children(md, revision, shape, OPERATOR)}


def pod(body: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = children(body)["Deployment"]["spec"]["template"]["spec"]
    return spec


def test_same_spec_gives_byte_identical_children() -> None:
    first = json.dumps(children(model_deployment()), sort_keys=False)
    second = json.dumps(children(model_deployment()), sort_keys=False)
    assert first == second


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("replicas", 5),
        ("rollout.progressDeadlineSeconds", 120),
        ("inference.allowedSources", [{"namespaceSelector": {}}]),
    ],
)
def test_changes_that_do_not_reach_pods_keep_the_revision(path: str, value: object) -> None:
    before = revision_of(parse_model_deployment(model_deployment()))
    after = revision_of(parse_model_deployment(with_spec(model_deployment(), path, value)))
    assert after == before


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model.version", "2.2.0"),
        ("model.sha256", "0" * 64),
        ("runtime.image", "ghcr.io/ferry/torchserve:0.12.1-cpu"),
        ("runtime.batching", {"maxBatchSize": 8, "maxBatchDelayMs": 10}),
        ("resources.gpu", 1),
        ("podMetadata.annotations", {"prometheus.io/scrape": "true"}),
        ("placement.nodeSelector", {"pool": "a100"}),
    ],
)
def test_changes_that_reach_pods_make_a_new_revision(path: str, value: object) -> None:
    before = revision_of(parse_model_deployment(model_deployment()))
    after = revision_of(parse_model_deployment(with_spec(model_deployment(), path, value)))
    assert after != before


def test_revision_children_are_named_and_labelled_by_revision() -> None:
    md = parse_model_deployment(model_deployment())
    revision = revision_of(md)
    built = children(model_deployment())
    for kind in ("Deployment", "ConfigMap"):
        assert built[kind]["metadata"]["name"] == f"resnet-{revision}"
        assert built[kind]["metadata"]["labels"]["serving.ferry.dev/revision"] == revision
    template_labels = built["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert template_labels["serving.ferry.dev/revision"] == revision
    assert built["Deployment"]["spec"]["selector"]["matchLabels"] == {
        "serving.ferry.dev/model-deployment": "resnet",
        "serving.ferry.dev/revision": revision,
    }


def test_every_child_is_owned_by_the_model_deployment() -> None:
    for child in children(model_deployment()).values():
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == "uid-resnet"
        assert owner["controller"] is True


def test_pods_follow_the_pod_contract() -> None:
    spec = pod(model_deployment())
    (fetch,) = spec["initContainers"]
    (serve,) = spec["containers"]
    assert fetch["name"] == contract.FETCH_CONTAINER
    assert fetch["command"] == [
        "ferry-fetch",
        "--uri", "s3://models/resnet50/2.1.0/resnet50.mar",
        "--sha256", SHA,
        "--dest", contract.archive_path("resnet50"),
    ]  # fmt: skip
    assert serve["name"] == contract.SERVE_CONTAINER
    assert serve["command"] == ["ferry-serve", "--config", "/etc/ferry/ferry-serve.json"]
    assert {(p["name"], p["containerPort"]) for p in serve["ports"]} == {
        ("http", contract.FRONT_PORT),
        ("agent", contract.AGENT_PORT),
    }
    assert serve["startupProbe"]["httpGet"]["path"] == contract.READINESS_PATH
    assert serve["readinessProbe"]["httpGet"]["path"] == contract.READINESS_PATH
    assert serve["livenessProbe"]["httpGet"]["path"] == contract.LIVENESS_PATH
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in serve["volumeMounts"]}
    assert mounts == {
        contract.CONFIG_DIR: True,
        contract.MODEL_STORE_DIR: True,
        contract.WORK_DIR: False,
        contract.TMP_DIR: False,
    }
    assert spec["automountServiceAccountToken"] is False


def test_a_stopping_pod_answers_until_the_service_has_dropped_it() -> None:
    """The kubelet runs the preStop `sleep` action (Kubernetes >= 1.30) before SIGTERM; the
    sleep and ferry-serve's stop of TorchServe (SIGKILL after STOP_GRACE_SECONDS) fit the
    grace period, so the kubelet never kills a stop short."""
    spec = pod(model_deployment())
    (serve,) = spec["containers"]
    drain = serve["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain >= 2  # endpoints and kube-proxy take about a second to drop a pod
    grace = spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_SECONDS)
    assert drain + STOP_GRACE_SECONDS < grace, (drain, STOP_GRACE_SECONDS, grace)


def test_config_map_holds_the_rendered_torchserve_and_launcher_config() -> None:
    body = with_spec(
        model_deployment(), "runtime.batching", {"maxBatchSize": 8, "maxBatchDelayMs": 20}
    )
    data = children(body)["ConfigMap"]["data"]
    expected = ServingConfig(
        model_name="resnet50", model_version="2.1.0", batch_size=8, max_batch_delay_ms=20
    )
    assert data[contract.CONFIG_PROPERTIES_KEY] == render_config_properties(expected)
    launcher = ServeSettings.model_validate_json(data[contract.SERVE_CONFIG_KEY])
    assert (launcher.model_name, launcher.model_version, launcher.probe) == (
        "resnet50",
        "2.1.0",
        None,
    )


def test_gpus_are_limits_with_a_toleration() -> None:
    spec = pod(with_spec(model_deployment(), "resources.gpu", 2))
    (serve,) = spec["containers"]
    assert serve["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in spec["initContainers"][0]["resources"]["limits"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]


def test_secrets_are_left_to_the_kubelet() -> None:
    body = with_spec(model_deployment(), "model.credentialsSecretRef", {"name": "s3-creds"})
    body = with_spec(body, "inference.clientTokenSecretRef", {"name": "clients", "key": "t"})
    spec = pod(body)
    assert spec["initContainers"][0]["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    token = next(v for v in spec["volumes"] if v["name"] == "client-token")
    assert token["secret"] == {"secretName": "clients", "items": [{"key": "t", "path": "token"}]}
    launcher = ServeSettings.model_validate_json(
        children(body)["ConfigMap"]["data"][contract.SERVE_CONFIG_KEY]
    )
    assert launcher.client_token_file == f"{contract.CLIENT_TOKEN_DIR}/{contract.CLIENT_TOKEN_KEY}"


def test_pvc_artifacts_are_mounted_read_only_for_the_fetch_step() -> None:
    spec = pod(with_spec(model_deployment(), "model.uri", "pvc://models/resnet/2.1.0.mar"))
    fetch = spec["initContainers"][0]
    assert fetch["command"][2] == "pvc://models/resnet/2.1.0.mar"
    mount = next(m for m in fetch["volumeMounts"] if m["name"] == "artifact-source")
    assert mount == {
        "name": "artifact-source",
        "mountPath": f"{contract.PVC_MOUNT_ROOT}/models",
        "readOnly": True,
    }
    claim = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}


def test_pods_pass_the_restricted_profile() -> None:
    assert restricted_violations(pod(model_deployment())) == []


def test_pdb_only_protects_more_than_one_replica() -> None:
    assert "PodDisruptionBudget" in children(model_deployment())
    assert "PodDisruptionBudget" not in children(with_spec(model_deployment(), "replicas", 1))


def test_network_policy_admits_only_the_operator_to_the_agent() -> None:
    policy = children(model_deployment())["NetworkPolicy"]["spec"]
    inference, agent = policy["ingress"]
    assert "from" not in inference  # any source: clients authenticate at the front
    assert agent["ports"] == [{"port": contract.AGENT_PORT, "protocol": "TCP"}]
    assert agent["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ferry-system"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ferry"}},
        }
    ]


def test_revisions_are_consonants_that_no_yaml_parser_reads_as_numbers() -> None:
    revisions = {revision_of(parse_model_deployment(model_deployment(f"m{i}"))) for i in range(200)}
    assert len(revisions) == 200
    assert all(len(r) == 10 and set(r) <= set("bcdfghjklmnpqrstvwxz") for r in revisions)
