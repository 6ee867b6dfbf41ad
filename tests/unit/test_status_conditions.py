"""Status decisions over observed Deployments and pods (unit world: pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ferry.api.parse import parse_model_deployment
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.health.readiness import Reason, Verdict
from ferry.reconcile.plan import World, decide, wants
from tests.unit import md_samples as s

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OPERATOR = OperatorIdentity("ferry-system")


def revision(body: dict[str, Any]) -> str:
    return revision_of(parse_model_deployment(body))


def status(
    body: dict[str, Any],
    children: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    now: datetime = NOW,
) -> dict[str, Any]:
    plan = decide(body, World(children=children, pods=pods), now, OPERATOR)
    assert plan.status is not None
    return plan.status


def condition(status_body: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in status_body["conditions"] if c["type"] == kind)
    return found


def test_all_replicas_ready_is_ready_and_complete() -> None:
    body = s.model_deployment()
    rev = revision(body)
    pods = [s.ready_pod("resnet", rev, f"resnet-{rev}-{i}") for i in range(2)]
    result = status(body, [s.deployment("resnet", rev)], pods)
    assert condition(result, "Ready")["status"] == "True"
    assert condition(result, "Progressing")["reason"] == "RolloutComplete"
    assert condition(result, "Degraded")["status"] == "False"
    assert condition(result, "ArtifactVerified")["reason"] == "Verified"
    assert condition(result, "Scheduled")["status"] == "True"
    assert result["stableRevision"] == rev
    assert result["modelVersion"] == "2.1.0"
    assert (result["replicas"], result["readyReplicas"]) == (2, 2)
    assert result["selector"] == "serving.ferry.dev/model-deployment=resnet"
    assert result["url"] == "http://resnet.ml.svc/predictions/resnet50"
    assert result["observedGeneration"] == 1
    assert all(c["observedGeneration"] == 1 for c in result["conditions"])


def test_loading_model_is_not_ready_with_a_reason() -> None:
    body = s.model_deployment()
    rev = revision(body)
    pods = [
        s.pod(
            "resnet",
            rev,
            f"resnet-{rev}-a",
            conditions=[{"type": "PodScheduled", "status": "True"}],
        )
    ]
    result = status(body, [s.deployment("resnet", rev, ready=0)], pods)
    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReplicasNotReady")
    assert condition(result, "Progressing")["reason"] == "RollingOut"
    assert result["stableRevision"] == ""


def test_checksum_mismatch_is_reported_precisely() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    pods = [s.fetch_failed_pod("resnet", rev, f"resnet-{rev}-a", 10, "sha256 mismatch")]
    result = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], pods)
    for kind, value in (("Ready", "False"), ("Degraded", "True"), ("ArtifactVerified", "False")):
        assert condition(result, kind)["status"] == value
        assert condition(result, kind)["reason"] == "ArtifactChecksumMismatch"


def test_gpu_oversubscription_is_insufficient_gpu() -> None:
    body = s.with_spec(s.model_deployment(replicas=1), "resources.gpu", 16)
    rev = revision(body)
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    pods = [s.unschedulable_pod("resnet", rev, f"resnet-{rev}-a", message)]
    result = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], pods)
    scheduled = condition(result, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "InsufficientGPU")
    assert "16 nvidia.com/gpu" in scheduled["message"]
    assert condition(result, "Ready")["reason"] == "InsufficientGPU"


def test_other_unschedulable_pods_are_unschedulable() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    pods = [s.unschedulable_pod("resnet", rev, f"resnet-{rev}-a", message)]
    result = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], pods)
    assert condition(result, "Scheduled")["reason"] == "Unschedulable"


def test_crash_loop_is_degraded() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    pods = [s.crash_looping_pod("resnet", rev, f"resnet-{rev}-a")]
    result = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], pods)
    assert condition(result, "Degraded")["reason"] == "CrashLoop"
    assert condition(result, "Ready")["reason"] == "CrashLoop"


def test_progress_deadline_stops_progressing() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    result = status(body, [s.deployment("resnet", rev, replicas=1, ready=0, deadline=True)], [])
    progressing = condition(result, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_failed_rollout_keeps_the_stable_revision_serving() -> None:
    old = s.model_deployment()
    old_rev = revision(old)
    new = s.with_spec(old, "model.version", "2.2.0")
    new_rev = revision(new)
    new["status"] = {"stableRevision": old_rev, "modelVersion": "2.1.0"}
    pods = [
        *(s.ready_pod("resnet", old_rev, f"resnet-{old_rev}-{i}") for i in range(2)),
        s.fetch_failed_pod("resnet", new_rev, f"resnet-{new_rev}-a", 10, "sha256 mismatch"),
    ]
    children = [s.deployment("resnet", old_rev), s.deployment("resnet", new_rev, ready=0)]
    result = status(new, children, pods)
    assert condition(result, "Ready")["status"] == "True"  # the old version still answers
    assert condition(result, "Degraded")["reason"] == "ArtifactChecksumMismatch"
    assert (result["stableRevision"], result["modelVersion"]) == (old_rev, "2.1.0")
    assert result["revision"] == new_rev


def test_scaled_to_zero_is_as_asked_so_gitops_tools_see_it_current() -> None:
    body = s.model_deployment(replicas=0)
    rev = revision(body)
    result = status(body, [s.deployment("resnet", rev, replicas=0, ready=0)], [])
    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "ScaledToZero")
    assert condition(result, "Degraded")["status"] == "False"
    assert condition(result, "Reconciling")["status"] == "False"
    assert condition(result, "Stalled")["status"] == "False"


def test_transition_time_moves_only_when_the_status_flips() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    loading = [s.pod("resnet", rev, f"resnet-{rev}-a")]
    first = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], loading)
    body["status"] = first
    # Same status, new reason: no flip.
    crashing = [s.crash_looping_pod("resnet", rev, f"resnet-{rev}-a")]
    later = NOW + timedelta(minutes=1)
    second = status(body, [s.deployment("resnet", rev, replicas=1, ready=0)], crashing, later)
    assert condition(second, "Ready")["reason"] == "CrashLoop"
    assert (
        condition(second, "Ready")["lastTransitionTime"]
        == condition(first, "Ready")["lastTransitionTime"]
    )
    body["status"] = second
    # Ready now: a flip.
    ready = [s.ready_pod("resnet", rev, f"resnet-{rev}-a")]
    third = status(body, [s.deployment("resnet", rev, replicas=1, ready=1)], ready, later)
    assert condition(third, "Ready")["lastTransitionTime"] == "2026-01-01T12:01:00Z"


def test_each_transition_gets_one_event() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    pods = [s.fetch_failed_pod("resnet", rev, f"resnet-{rev}-a", 10, "sha256 mismatch")]
    world = World(children=[s.deployment("resnet", rev, replicas=1, ready=0)], pods=pods)
    plan = decide(body, world, NOW, OPERATOR)
    warnings = {e.reason for e in plan.events if e.type == "Warning"}
    assert warnings == {"ArtifactChecksumMismatch"}
    body["status"] = plan.status
    again = decide(body, world, NOW + timedelta(seconds=30), OPERATOR)
    assert again.events == ()
    assert again.status is None


def test_a_healthy_start_is_quiet_until_something_changes() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    loading = [s.pod("resnet", rev, f"resnet-{rev}-a")]
    first = decide(
        body, World([s.deployment("resnet", rev, replicas=1, ready=0)], loading), NOW, OPERATOR
    )
    assert first.events == ()  # not ready yet is what a new object is
    body["status"] = first.status
    ready = [s.ready_pod("resnet", rev, f"resnet-{rev}-a")]
    later = decide(
        body, World([s.deployment("resnet", rev, replicas=1, ready=1)], ready), NOW, OPERATOR
    )
    assert [(e.type, e.reason) for e in later.events] == [("Normal", "Serving")]


def test_the_agents_verdict_says_why_a_running_pod_is_not_ready() -> None:
    body = s.model_deployment(replicas=1)
    rev = revision(body)
    name = f"resnet-{rev}-a"
    running = s.pod(
        "resnet", rev, name, phase="Running", podIP="10.85.0.7",
        conditions=[{"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False"}],
        initContainerStatuses=s.fetched(),
        containerStatuses=[{"name": "torchserve", "state": {"running": {}}}],
    )  # fmt: skip
    seen = World([s.deployment("resnet", rev, replicas=1, ready=0)], [running])
    assert [p.name for p in wants(body, seen, NOW).readiness] == [name]
    mismatch = Verdict(False, Reason.PROBE_MISMATCH, "output shape [1, 3], expected [1, 4]")
    plan = decide(body, seen, NOW, OPERATOR, readiness={name: mismatch})
    assert plan.status is not None
    healthy = condition(plan.status, "ModelHealthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "ProbeMismatch")
    assert healthy["message"] == f"pod {name}: output shape [1, 3], expected [1, 4]"
    assert condition(plan.status, "Degraded")["reason"] == "ProbeMismatch"  # a wrong answer
    loading = Verdict(False, Reason.WORKERS_NOT_READY, "0 of 1 workers are READY")
    plan = decide(body, seen, NOW, OPERATOR, readiness={name: loading})
    assert plan.status is not None
    assert condition(plan.status, "Ready")["reason"] == "WorkersNotReady"
    assert condition(plan.status, "Degraded")["status"] == "False"  # loading is no failure
