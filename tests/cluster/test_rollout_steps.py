"""Canary steps on the real control plane: timed steps advance in order with the right
replica counts, an indefinite pause holds until promoted, promote-full skips the rest, abort
returns to stable and retry starts over.

World: the local control plane (API server, Deployment and ReplicaSet controllers,
scheduler); kwok plays the pods, which turn Ready at once. The operator runs with the
chart's RBAC. A recorder watches the model's Deployments, pods and status, so every replica
count the API server stored is seen, however briefly it lasted. The user acts through
annotations on the ModelDeployment (docs/operator.md, "User actions").
"""

import itertools
import time
from collections.abc import Callable
from datetime import timedelta
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

NAME = "resnet"
HOLD = 15  # seconds an indefinite pause is watched holding (longer than the 10 s resync)


def start(models: ModelDeployments, steps: list[dict[str, object]]) -> str:
    """Version 1.0.0 serving on 4 replicas; returns its revision."""
    models.apply(r.manifest(NAME, "1.0.0", steps=steps))
    done = r.wait_status(models, NAME, lambda s: bool(s.get("stableRevision")), "1.0.0 stable")
    return str(done["stableRevision"])


def roll_out(models: ModelDeployments, steps: list[dict[str, object]], version: str) -> str:
    """Apply `version` (as a GitOps commit would); returns the canary revision."""
    models.apply(r.manifest(NAME, version, steps=steps))
    seen = r.wait_status(
        models, NAME, lambda s: s.get("canaryVersion") == version, f"{version} canary"
    )
    return str(seen["canaryRevision"])


def paused_at(models: ModelDeployments, step: int, weight: int) -> dict[str, Any]:
    return r.wait_status(
        models,
        NAME,
        lambda s: r.at_step(step, "Paused")(s) and s["canaryWeight"] == weight,
        f"paused at step {step} with {weight}% of the ready pods on the canary",
    )


def test_timed_steps_advance_in_order_with_the_right_replica_counts(
    ferry_operator: RunningOperator,
    models: ModelDeployments,
    record_property: Callable[[str, object], None],
) -> None:
    steps = [r.timed(25, 5), r.timed(50, 5)]
    stable = start(models, steps)
    with r.Recorder(models, NAME) as seen:
        began = time.monotonic()
        canary = roll_out(models, steps, "1.1.0")
        done = r.wait_status(models, NAME, r.promoted(canary), "1.1.0 promoted", timeout=60)
        took = time.monotonic() - began
        seen.settle()

    # Per-step overhead: the rollout's duration beyond its pauses, per step (3 with the
    # implicit 100 %). A figure for the report, never asserted.
    overhead = (took - 10) / 3
    record_property("per_step_overhead_seconds", round(overhead, 2))
    print(f"\nrollout of 3 steps with 10 s of pauses took {took:.2f} s: {overhead:.2f} s per step")

    # Canary pods come first; a stable pod goes only once a canary pod is ready.
    pairs = seen.replica_pairs(stable, canary)
    assert pairs[:5] == [(4, 1), (3, 1), (3, 2), (2, 2), (2, 4)], pairs
    last = pairs[4:]  # the 100 % step: stable down one for one, then promoted
    assert last[-1] == (0, 4), pairs
    assert all(c == 4 and s > t for (s, c), (t, _) in itertools.pairwise(last)), pairs
    ready = seen.ready_pods(stable, canary)
    assert min(ready) == 4, f"serving capacity dipped below 4 ready pods: {ready}"

    # What status said at each step, in order.
    at_steps = seen.rollout_states("step", "phase", "/canaryRevision", "/canaryWeight")
    assert (1, "Progressing", canary, 25) in at_steps, at_steps
    assert (2, "Progressing", canary, 50) in at_steps, at_steps
    assert at_steps.index((1, "Progressing", canary, 25)) < at_steps.index(
        (2, "Progressing", canary, 50)
    )
    assert [s for s, *_ in at_steps if s is not None] == sorted(
        s for s, *_ in at_steps if s is not None
    ), f"a step went backwards: {at_steps}"

    # Each pause lasted at least its duration, by the operator's own timestamps: a step is
    # left (the next one starts) 5 s or more after its weight was reached.
    reached_at = dict(seen.rollout_states("step", "weightReachedAt"))
    started_at = dict(seen.rollout_states("step", "stepStartedAt"))
    for step in (1, 2):
        paused = r.moment(started_at[step + 1]) - r.moment(reached_at[step])
        assert paused >= timedelta(seconds=5), f"step {step}'s pause ended early: {paused}"

    # Promoted: the old revision is kept at zero replicas for a rollback.
    assert (done["modelVersion"], done["canaryWeight"], done.get("rollout")) == ("1.1.0", 0, None)
    assert r.replicas_by_revision(models, NAME) == {stable: 0, canary: 4}
    assert [(h["revision"], h["outcome"]) for h in done["history"]] == [
        (canary, "Promoted"),
        (stable, "Promoted"),
    ]
    assert r.condition(done, "Progressing")["reason"] == "RolloutComplete"
    assert r.reasons(models, NAME) == [
        "Serving", "RolloutStarted", "StepReached", "StepReached", "Promoted",
    ]  # fmt: skip
    reached = [e.message for e in r.events(models, NAME) if e.reason == "StepReached"]
    assert reached[0].startswith(f"step 1/3: canary {canary} at 25% (1 of 4 replicas ready)")
    assert reached[1].startswith(f"step 2/3: canary {canary} at 50% (2 of 4 replicas ready)")


def test_an_indefinite_pause_holds_until_promoted_and_a_stale_promote_skips_nothing(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    steps = [r.until_promoted(25), r.until_promoted(50)]
    stable = start(models, steps)
    canary = roll_out(models, steps, "1.1.0")
    paused_at(models, 1, 25)
    r.no_namespace_terminating(models)
    writes = ferry_operator.wait_quiet(quiet_seconds=2, timeout=30)

    stays(
        lambda: (r.status(models, NAME), r.replicas_by_revision(models, NAME)),
        lambda seen: (
            r.at_step(1, "Paused")(seen[0])
            and seen[0]["canaryWeight"] == 25
            and seen[1] == {stable: 3, canary: 1}
        ),
        HOLD,
        "held at step 1",
    )
    writes_while_held = ferry_operator.writes() - writes
    paused = r.condition(r.status(models, NAME), "Progressing")
    assert (paused["status"], paused["reason"]) == ("True", "RolloutPaused")
    assert "paused" in r.status(models, NAME)["rollout"]["message"]

    r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/1")
    paused_at(models, 2, 50)
    # The annotation still says `<revision>/1`: it names a step already left, so it is stale
    # and must not promote step 2 as well.
    stays(
        lambda: r.status(models, NAME),
        lambda s: r.at_step(2, "Paused")(s) and s["canaryWeight"] == 50,
        5,
        "held at step 2 with a stale promote annotation",
    )
    assert r.replicas_by_revision(models, NAME) == {stable: 2, canary: 2}

    r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/2")
    r.wait_status(models, NAME, r.promoted(canary), "promoted after step 2", timeout=30)
    assert r.reasons(models, NAME) == [
        "Serving", "RolloutStarted", "StepReached", "RolloutPaused", "StepReached",
        "RolloutPaused", "Promoted",
    ]  # fmt: skip
    paused_events = [e.message for e in r.events(models, NAME) if e.reason == "RolloutPaused"]
    assert paused_events == [
        "step 1/3 (25%): waiting to be promoted",
        "step 2/3 (50%): waiting to be promoted",
    ]
    # Nothing changed while the rollout waited: the operator had nothing to write.
    assert writes_while_held == 0, (
        f"the operator made {writes_while_held} writes in {HOLD} s while the rollout was "
        f"paused and nothing changed (log: {ferry_operator.log})"
    )


def test_promote_full_skips_the_remaining_steps(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    steps = [r.until_promoted(25), r.until_promoted(50)]
    stable = start(models, steps)
    with r.Recorder(models, NAME) as seen:
        canary = roll_out(models, steps, "1.1.0")
        r.wait_status(models, NAME, r.at_step(1, "Paused"), "paused at step 1")
        r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/full")
        done = r.wait_status(models, NAME, r.promoted(canary), "promoted in full", timeout=30)
        seen.settle()

    canaries = [c for _, c in seen.replica_pairs(stable, canary)]
    assert sorted(set(canaries)) == [1, 4], (
        f"step 2 (2 canary replicas) was not skipped: {canaries}"
    )
    assert r.replicas_by_revision(models, NAME) == {stable: 0, canary: 4}
    assert done["history"][0]["outcome"] == "Promoted"
    assert r.reasons(models, NAME) == [
        "Serving", "RolloutStarted", "StepReached", "RolloutPaused", "RolloutPromotedFull",
        "Promoted",
    ]  # fmt: skip


def test_abort_returns_to_stable_and_retry_starts_again_from_step_1(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    steps = [r.until_promoted(25), r.until_promoted(50)]
    stable = start(models, steps)
    canary = roll_out(models, steps, "1.1.0")
    attempt = paused_at(models, 1, 25)["rollout"]["attempt"]
    assert attempt == 1

    r.annotate(models, NAME, r.ABORT, f"{canary}/{attempt}")
    aborted = r.wait_status(
        models, NAME, lambda s: (s.get("rollout") or {}).get("phase") == "Aborted", "aborted"
    )
    assert (aborted["stableRevision"], aborted["modelVersion"]) == (stable, "1.0.0")
    assert (aborted["canaryRevision"], aborted["canaryWeight"]) == ("", 0)
    progressing = r.condition(aborted, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutAborted")
    assert r.condition(aborted, "Stalled")["status"] == "True"
    assert (aborted["history"][0]["revision"], aborted["history"][0]["outcome"]) == (
        canary,
        "Aborted",
    )
    models.wait_condition(NAME, "Ready", "True", timeout=20)  # 1.0.0 serves on
    # The aborted revision stays at zero: it is not tried again by itself.
    stays(
        lambda: r.replicas_by_revision(models, NAME),
        lambda replicas: replicas == {stable: 4, canary: 0},
        3,
        "aborted revision at zero, stable at full size",
    )
    assert [(w.reason, w.message.split(";")[0]) for w in r.warnings(models, NAME)] == [
        ("Aborted", "RolloutAborted: aborted by the user")
    ]

    r.annotate(models, NAME, r.RETRY, f"{canary}/{attempt + 1}")
    retried = paused_at(models, 1, 25)
    assert retried["rollout"]["attempt"] == attempt + 1
    assert retried["canaryRevision"] == canary
    assert r.replicas_by_revision(models, NAME) == {stable: 3, canary: 1}
    assert r.condition(retried, "Stalled")["status"] == "False"
    assert r.reasons(models, NAME)[-3:] == ["RolloutRetried", "StepReached", "RolloutPaused"]


def test_a_promote_left_from_an_aborted_attempt_skips_no_step_of_the_retry(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    """The natural sequence: promote past step 1, abort at step 2, retry. The promote
    annotation (`<revision>/1/1`) is still on the object, from the attempt that was aborted."""
    steps = [r.until_promoted(25), r.until_promoted(50)]
    stable = start(models, steps)
    canary = roll_out(models, steps, "1.1.0")
    paused_at(models, 1, 25)
    r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/1")
    paused_at(models, 2, 50)
    r.annotate(models, NAME, r.ABORT, f"{canary}/1")
    r.wait_status(
        models, NAME, lambda s: (s.get("rollout") or {}).get("phase") == "Aborted", "aborted"
    )

    r.annotate(models, NAME, r.RETRY, f"{canary}/2")
    retried = r.wait_status(
        models,
        NAME,
        # Settled: the stable's surplus pod may still be ready a moment after the canary's
        # weight is reached (1 canary of 5 ready pods: 20 %).
        lambda s: (
            ((s.get("rollout") or {}).get("attempt"), s["rollout"].get("phase")) == (2, "Paused")
            and s.get("canaryWeight") in (25, 50)
        ),
        "attempt 2 waiting to be promoted",
    )
    assert (retried["rollout"]["step"], retried["canaryWeight"]) == (1, 25), (
        "the retried attempt left step 1 without being promoted (by the promote annotation of "
        f"the aborted attempt); events: {r.reasons(models, NAME)}"
    )
    assert r.replicas_by_revision(models, NAME) == {stable: 3, canary: 1}
