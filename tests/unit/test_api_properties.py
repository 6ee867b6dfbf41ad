"""Property tests: odd but valid specs and odd observed worlds never crash the operator
(unit world: pure; hypothesis generates objects shaped as the API server returns them)."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry.api.parse import parse_model_deployment
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.reconcile.plan import World, decide
from tests.unit import md_samples as s
from tests.unit.pod_security import restricted_violations

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OPERATOR = OperatorIdentity("ferry-system", {"app.kubernetes.io/name": "ferry"})
CONDITIONS = {
    "Ready",
    "Progressing",
    "Degraded",
    "ArtifactVerified",
    "Scheduled",
    "ModelHealthy",
    "Reconciling",
    "Stalled",
}

name_chars = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=0, max_size=61)
label_value = st.builds(
    lambda a, mid, b: a + mid + b, st.sampled_from("aZ9"), name_chars, st.sampled_from("z0")
)
json_leaf = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
quantity = st.sampled_from(["1", "500m", "0.25", "16Gi", "1536Mi", "1.5Gi", "100k", 3, "1000m"])


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    batch = draw(st.integers(1, 1024))
    spec: dict[str, Any] = {
        "model": {
            "name": draw(label_value),
            "version": draw(label_value),
            "uri": draw(
                st.sampled_from(
                    [
                        "s3://b/k.mar",
                        "gs://b/k",
                        "https://h/x.mar?sig=a%20b",
                        "pvc://claim/dir/m.mar",
                        "file:///m.mar",
                    ]
                )
            ),
            "sha256": draw(st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)),
            "allowUnsafePickle": draw(st.booleans()),
        },
        "runtime": {
            "image": draw(
                st.text("abcdefghijklmnopqrstuvwxyz0123456789./:-@", min_size=1, max_size=80)
            ),
            "workers": draw(st.integers(1, 64)),
            "batching": {
                "maxBatchSize": batch,
                "maxBatchDelayMs": draw(st.integers(0, 10_000)) if batch > 1 else 0,
            },
            "startupTimeoutSeconds": draw(st.integers(10, 7200)),
        },
        "resources": {
            "cpu": draw(quantity),
            "memory": draw(quantity),
            "gpu": draw(st.integers(0, 64)),
        },
        "replicas": draw(st.integers(0, 1000)),
        "placement": {
            "nodeSelector": draw(
                st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)
            ),
            "affinity": draw(st.dictionaries(st.text(max_size=8), json_value, max_size=3)),
            "tolerations": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {"key": st.text(max_size=10)},
                        optional={
                            "operator": st.sampled_from(["Exists", "Equal"]),
                            "tolerationSeconds": st.integers(),
                        },
                    ),
                    max_size=3,
                )
            ),
        },
        "podMetadata": {
            "labels": draw(
                st.dictionaries(st.text("abc/.", min_size=1, max_size=10), label_value, max_size=3)
            ),
            "annotations": draw(
                st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=3)
            ),
        },
        "inference": {
            "allowedSources": draw(
                st.lists(st.dictionaries(st.text(max_size=8), json_value), max_size=2)
            )
        },
    }
    if draw(st.booleans()):
        spec["model"]["probe"] = {
            "request": draw(json_value),
            "timeoutSeconds": draw(st.floats(0.1, 60)),
        }
    if draw(st.booleans()):
        spec["inference"]["clientTokenSecretRef"] = {"name": "tokens"}
    return spec


@st.composite
def pods(draw: st.DrawFn, revisions: list[str]) -> list[dict[str, Any]]:
    makers = [
        lambda rev, name: s.ready_pod("md", rev, name),
        lambda rev, name: s.pod("md", rev, name),
        lambda rev, name: s.crash_looping_pod(
            "md", rev, name, draw(st.sampled_from(["Error", "OOMKilled"]))
        ),
        lambda rev, name: s.unschedulable_pod("md", rev, name, draw(st.text(max_size=80))),
        lambda rev, name: s.fetch_failed_pod(
            "md", rev, name, draw(st.integers(-1, 255)), draw(st.text(max_size=300))
        ),
    ]
    count = draw(st.integers(0, 4))
    return [
        draw(st.sampled_from(makers))(draw(st.sampled_from(revisions)), f"md-pod-{i}")
        for i in range(count)
    ]


def body_of(spec: dict[str, Any]) -> dict[str, Any]:
    body = s.model_deployment("md")
    body["spec"] = spec
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_valid_specs_parse_and_build_restricted_deterministic_pods(spec: dict[str, Any]) -> None:
    md = parse_model_deployment(body_of(spec))
    plan = decide(body_of(spec), World(children=[], pods=[]), NOW, OPERATOR)
    again = decide(body_of(spec), World(children=[], pods=[]), NOW, OPERATOR)
    assert json.dumps(plan.apply) == json.dumps(again.apply)
    assert plan.revision == revision_of(md)
    deployment = next(c for c in plan.apply if c["kind"] == "Deployment")
    assert restricted_violations(deployment["spec"]["template"]["spec"]) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_observed_world_gives_a_complete_status(data: st.DataObject) -> None:
    body = s.model_deployment("md", replicas=data.draw(st.integers(0, 5)))
    rev = revision_of(parse_model_deployment(body))
    revisions = [rev, "0123456789"]
    body["status"] = {"stableRevision": data.draw(st.sampled_from(["", *revisions]))}
    children = [
        s.deployment(
            "md",
            r,
            replicas=data.draw(st.integers(0, 5)),
            ready=data.draw(st.integers(0, 5)),
            deadline=data.draw(st.booleans()),
        )
        for r in data.draw(st.lists(st.sampled_from(revisions), unique=True))
    ]
    plan = decide(body, World(children=children, pods=data.draw(pods(revisions))), NOW, OPERATOR)
    assert plan.status is not None
    assert {c["type"] for c in plan.status["conditions"]} == CONDITIONS
    assert all(len(c["message"]) <= 4096 for c in plan.status["conditions"])


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_value, max_size=5))
def test_garbage_specs_are_spec_errors_never_crashes(spec: dict[str, Any]) -> None:
    plan = decide(body_of(spec), World(children=[], pods=[]), NOW, OPERATOR)
    assert plan.apply == ()
