"""Ferry's autoscaler through the reconcile plan (unit world: pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ferry.api.parse import parse_model_deployment
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.health.stats import PodStats
from ferry.reconcile.autoscale import Sample
from ferry.reconcile.plan import Plan, Scaling, World, decide
from tests.unit import md_samples as s

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OPERATOR = OperatorIdentity("ferry-system")
POLICY = {"minReplicas": 1, "maxReplicas": 6, "metric": "concurrency", "target": 4,
          "scaleDown": {"stabilizationSeconds": 0}}  # fmt: skip


def body(**status: Any) -> dict[str, Any]:
    md = s.model_deployment(replicas=2, autoscaling=POLICY)
    md["status"] = {"stableRevision": revision(md), "modelVersion": "2.1.0", **status}
    return md


def revision(md: dict[str, Any]) -> str:
    return revision_of(parse_model_deployment(md))


def world(md: dict[str, Any], ready: int) -> World:
    rev = revision(md)
    pods = [s.ready_pod("resnet", rev, f"resnet-{rev}-{i}") for i in range(ready)]
    return World([s.deployment("resnet", rev, replicas=ready, ready=ready)], pods)


def busy(md: dict[str, Any], pods: int, concurrency: float) -> Scaling:
    """Each pod had `concurrency` requests in flight on average over the last 10 s."""
    rev = revision(md)

    def stats(seconds_in_flight: float) -> PodStats:
        return PodStats(model="resnet50", version="2.1.0", in_flight_seconds_sum=seconds_in_flight)

    samples = {
        f"resnet-{rev}-{i}": Sample(stats(100 + 10 * concurrency), stats(100), 10.0)
        for i in range(pods)
    }
    return Scaling(samples, memory=None)


def evaluated(md: dict[str, Any], ready: int, concurrency: float, **extra: Any) -> Plan:
    return decide(md, world(md, ready), NOW, OPERATOR, scaling=busy(md, ready, concurrency),
                  **extra)  # fmt: skip


def test_load_above_target_raises_the_total_and_says_why() -> None:
    md = body()
    plan = evaluated(md, 2, concurrency=9.2)
    assert plan.status is not None
    scaled = plan.status["autoscaling"]
    assert scaled["desiredReplicas"] == 4  # 5 wanted; at most +100 % per 15 s
    assert "concurrency 9.2 per replica > target 4" in scaled["reason"]
    assert "scale-up limited to 100% per 15s: 2 -> 4" in scaled["reason"]
    deployment = next(c for c in plan.apply if c["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 4  # spec.replicas (2) is ignored
    assert [e.reason for e in plan.events] == ["Scaled"]


def test_between_evaluations_the_recorded_decision_holds() -> None:
    md = body(autoscaling={"desiredReplicas": 5, "reason": "earlier"})
    plan = decide(md, world(md, 5), NOW, OPERATOR)  # no evaluation this time
    deployment = next(c for c in plan.apply if c["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 5  # the recorded decision, not spec.replicas
    assert plan.status is not None
    assert plan.status["autoscaling"] == {"desiredReplicas": 5, "reason": "earlier"}


def test_steady_load_within_tolerance_writes_no_status() -> None:
    first = evaluated(body(), 2, concurrency=4.1)
    assert first.status is not None
    md = body(**{k: v for k, v in first.status.items() if k not in ("stableRevision",)})
    again = decide(md, world(md, 2), NOW + timedelta(seconds=10), OPERATOR,
                   scaling=busy(md, 2, 4.3))  # fmt: skip
    assert again.status is None  # nothing a reader would act on changed
    assert again.events == ()


def test_an_hpa_on_the_same_object_is_a_condition_naming_it() -> None:
    md = body()
    hpa = {
        "metadata": {"name": "resnet-hpa"},
        "spec": {"scaleTargetRef": {"apiVersion": "serving.ferry.dev/v1alpha1",
                                    "kind": "ModelDeployment", "name": "resnet"}},
    }  # fmt: skip
    seen = world(md, 2)
    plan = decide(md, World(seen.children, seen.pods, autoscalers=[hpa]), NOW, OPERATOR,
                  scaling=busy(md, 2, 4.0))  # fmt: skip
    assert plan.status is not None
    conflict = next(c for c in plan.status["conditions"] if c["type"] == "AutoscalerConflict")
    assert (conflict["status"], conflict["reason"]) == ("True", "HorizontalPodAutoscaler")
    assert "resnet-hpa" in conflict["message"]
    assert ("Warning", "HorizontalPodAutoscaler") in {(e.type, e.reason) for e in plan.events}


def test_without_autoscaling_the_total_is_spec_replicas_and_no_conflict_condition() -> None:
    md = s.model_deployment(replicas=3)
    plan = decide(md, World([], []), NOW, OPERATOR)
    assert plan.status is not None
    assert "autoscaling" not in plan.status or plan.status["autoscaling"] is None
    assert all(c["type"] != "AutoscalerConflict" for c in plan.status["conditions"])
    deployment = next(c for c in plan.apply if c["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
