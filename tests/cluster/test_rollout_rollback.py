"""Rollbacks on the real control plane: a canary that never gets ready, crash-loops or fails
artifact verification is rolled back on its own, without the serving version ever losing a
ready replica; analysis without figures holds, then rolls back at the deadline; setting the
version back drops a canary at once; going back to a version promoted before reuses its
Deployment and skips the steps.

World: the local control plane; kwok plays the pods and its failure stages (pod annotations
set through spec.podMetadata) play a model that never loads, a crash-looping server and a
fetch step that rejects the artifact. kwok pods run no agent, so analysis reads no figures.
"""

from typing import Any

import pytest

from tests.cluster import operator_harness as harness
from tests.cluster import rollouts as r
from tests.cluster.helpers import stays
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

# Fixtures: one operator for this module (the chart's RBAC), a namespace per test.
ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

NAME = "bert"
STEPS = [r.timed(25, 5), r.timed(50, 5)]
QUIET = 12  # seconds a settled model is watched for writes: longer than the 10 s resync


def serve(models: ModelDeployments, **settings: Any) -> str:
    """Version 1.0.0 serving on 4 replicas; returns its revision."""
    models.apply(r.manifest(NAME, "1.0.0", **settings))
    done = r.wait_status(models, NAME, lambda s: bool(s.get("stableRevision")), "1.0.0 stable")
    return str(done["stableRevision"])


def rolled_back(seen: dict[str, Any]) -> bool:
    return (seen.get("rollout") or {}).get("phase") == "RolledBack"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param(r.NEVER_READY, "ProgressDeadlineExceeded", id="never-ready"),
        pytest.param(r.CRASH_LOOP, "CrashLoop", id="crash-loop"),
        pytest.param(r.BAD_CHECKSUM, "ArtifactChecksumMismatch", id="bad-checksum"),
    ],
)
def test_a_failing_canary_is_rolled_back_and_stable_never_loses_a_ready_replica(
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    failure: dict[str, str],
    reason: str,
) -> None:
    stable = serve(models, steps=STEPS)
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", steps=STEPS, annotations=failure))
        canary = r.wait_status(models, NAME, lambda s: bool(s.get("canaryRevision")), "canary")[
            "canaryRevision"
        ]
        done = r.wait_status(models, NAME, rolled_back, "rolled back", timeout=75)
        # Not tried again while the spec names it.
        stays(
            lambda: r.replicas_by_revision(models, NAME),
            lambda replicas: replicas == {stable: 4, canary: 0},
            5,
            "the failed revision at zero, the stable at full size",
        )
        seen.settle()

    stable_ready = seen.ready_deployment_replicas(stable)
    assert min(stable_ready) == 4, f"the stable revision lost ready replicas: {stable_ready}"
    assert max(c for _, c in seen.replica_pairs(stable, canary)) == 1, "went past step 1"
    assert (done["stableRevision"], done["modelVersion"]) == (stable, "1.0.0")
    assert (done["canaryRevision"], done["canaryWeight"]) == ("", 0)
    degraded, progressing = r.condition(done, "Degraded"), r.condition(done, "Progressing")
    assert (degraded["status"], degraded["reason"]) == ("True", reason)
    assert (
        f"revision {canary} (model 1.1.0) was rolled back, {stable} serves" in degraded["message"]
    )
    assert (progressing["status"], progressing["reason"]) == ("False", "RolledBack")
    assert r.condition(done, "Stalled")["status"] == "True"
    assert r.condition(done, "Ready")["status"] == "True"
    entry = done["history"][0]
    assert (entry["revision"], entry["version"], entry["outcome"]) == (
        canary,
        "1.1.0",
        "RolledBack",
    )
    assert entry["reason"].startswith(f"{reason}: ")
    (warning,) = r.warnings(models, NAME)
    assert warning.reason == "RolledBack"
    assert warning.message.startswith(f"{reason}: ")
    if failure is r.BAD_CHECKSUM:
        verified = r.condition(done, "ArtifactVerified")
        assert (verified["status"], verified["reason"]) == ("False", reason)
        assert failure["sim.ferry.dev/init-message"] in verified["message"]
    if failure is r.NEVER_READY:
        assert "(30s)" in degraded["message"]
        assert "canary " + canary + " has 0/1 ready" in degraded["message"]


def test_analysis_without_figures_holds_then_rolls_back_at_the_deadline(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    """kwok pods have no agent: every interval reads no requests, so it is Inconclusive."""
    settings: dict[str, Any] = {
        "replicas": 2,
        "steps": [{"weight": 50}],
        "analysis": {"intervalSeconds": 5, "minRequests": 10, "maxErrorRate": 0.05},
    }
    stable = serve(models, **settings)
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", **settings))
        holding = r.wait_status(
            models,
            NAME,
            lambda s: "holding" in (s.get("rollout") or {}).get("message", ""),
            "holding for lack of figures",
        )
        canary = holding["canaryRevision"]
        done = r.wait_status(models, NAME, rolled_back, "rolled back at the deadline", timeout=60)
        models.wait_condition(NAME, "Ready", "True", timeout=20)
        # Held: nothing changes any more, so nothing is written (past a 10 s resync).
        r.no_namespace_terminating(models)
        writes = ferry_operator.wait_quiet(quiet_seconds=2, timeout=30)
        stays(
            lambda: r.replicas_by_revision(models, NAME),
            lambda replicas: replicas == {stable: 2, canary: 0},
            QUIET,
            "the rolled-back revision at zero",
        )
        writes_while_held = ferry_operator.writes() - writes
        seen.settle()

    message = holding["rollout"]["message"]
    assert "0 canary requests in the interval, spec.rollout.analysis.minRequests is 10" in message
    assert message in r.condition(holding, "Progressing")["message"]
    assert (holding["rollout"]["step"], holding["canaryWeight"]) == (1, 50)
    verdicts = {a["verdict"] for a in done["rollout"]["analysis"]}
    assert verdicts == {"Inconclusive"}
    pairs = seen.replica_pairs(stable, canary)
    assert (max(c for _, c in pairs), pairs[-1]) == (1, (2, 0)), f"left step 1: {pairs}"
    assert min(seen.ready_pods(stable, canary)) >= 1  # the floor of 2 replicas
    degraded = r.condition(done, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert "holding: 0 canary requests" in degraded["message"]
    assert r.condition(done, "Progressing")["reason"] == "RolledBack"
    assert done["history"][0]["outcome"] == "RolledBack"
    assert r.replicas_by_revision(models, NAME) == {stable: 2, canary: 0}
    assert [w.reason for w in r.warnings(models, NAME)] == ["RolledBack"]
    assert writes_while_held == 0, (
        f"the operator made {writes_while_held} writes in {QUIET} s to a rolled-back model "
        f"where nothing changed (log: {ferry_operator.log})"
    )


def test_the_version_set_back_mid_canary_drops_the_canary_at_once(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    # Analysis is on, and the kwok canary can never pass it: going back needs none.
    settings: dict[str, Any] = {
        "steps": [r.until_promoted(25), r.until_promoted(50)],
        "analysis": {"intervalSeconds": 5, "minRequests": 10, "maxErrorRate": 0.05},
    }
    stable = serve(models, **settings)
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", **settings))
        canary = r.wait_status(models, NAME, r.at_step(1, "Paused"), "paused at step 1")[
            "canaryRevision"
        ]
        models.apply(r.manifest(NAME, "1.0.0", **settings))  # a GitOps revert
        done = r.wait_status(models, NAME, lambda s: not s.get("canaryRevision"), "canary gone")
        seen.settle()

    assert (done["stableRevision"], done["modelVersion"], done.get("rollout")) == (
        stable,
        "1.0.0",
        None,
    )
    pairs = seen.replica_pairs(stable, canary)
    assert [c for _, c in pairs] == [1] * (len(pairs) - 1) + [0], pairs  # 1 -> 0, nothing between
    assert pairs[-1] == (4, 0), pairs
    assert r.replicas_by_revision(models, NAME) == {stable: 4, canary: 0}
    entry = done["history"][0]
    assert (entry["revision"], entry["outcome"]) == (canary, "Superseded")
    assert entry["reason"] == f"spec set back to the stable revision {stable} at step 1/3"
    models.wait_condition(NAME, "Progressing", "False", "RolloutComplete", timeout=20)
    assert r.condition(done, "Degraded")["status"] == "False"
    reverted = r.events(models, NAME)[-1]
    assert (reverted.type, reverted.reason) == ("Normal", "RolloutReverted")
    assert r.warnings(models, NAME) == []


def test_going_back_to_a_promoted_version_reuses_its_deployment_at_full_size(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    steps = [r.until_promoted(25), r.until_promoted(50)]
    first = serve(models, steps=steps)
    models.apply(r.manifest(NAME, "1.1.0", steps=steps))
    second = r.wait_status(models, NAME, r.at_step(1, "Paused"), "1.1.0 paused at step 1")[
        "canaryRevision"
    ]
    r.annotate(models, NAME, r.PROMOTE, f"{second}/1/full")
    r.wait_status(models, NAME, r.promoted(second), "1.1.0 promoted")
    (kept,) = [d for d in models.deployments(NAME) if d.metadata.labels[r.REVISION] == first]
    assert kept.spec.replicas == 0

    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.0.0", steps=steps))  # back to a known-good version
        done = r.wait_status(models, NAME, r.promoted(first), "1.0.0 serving again")
        seen.settle()

    # Straight to 100 %: no step at 25 % and no pause waiting for a promote.
    pairs = seen.replica_pairs(second, first)
    assert ({c for _, c in pairs}, pairs[-1]) == ({0, 4}, (0, 4)), pairs
    assert seen.rollout_states("totalSteps", "step") == [(None, None), (1, 1), (None, None)]
    # The same Deployment (name and uid): nothing new was created.
    uids = seen.deployment_uids()
    assert sorted(uids) == sorted(d.metadata.name for d in models.deployments(NAME)), uids
    assert len(uids) == 2
    assert uids[kept.metadata.name] == {kept.metadata.uid}
    assert r.replicas_by_revision(models, NAME) == {first: 4, second: 0}
    assert [(h["revision"], h["outcome"]) for h in done["history"][:2]] == [
        (first, "Promoted"),
        (second, "Promoted"),
    ]
    assert done["history"][0]["reason"] == "rolled back to a known-good revision"
    rollout = [e for e in r.events(models, NAME) if e.reason != "Serving"][-3:]
    assert [e.reason for e in rollout] == ["RolloutStarted", "StepReached", "Promoted"]
    assert rollout[0].message.endswith("straight to 100 %: it served as stable before")
    assert rollout[1].message.startswith(f"step 1/1: canary {first} at 100%")
