"""Reliability scenario R1 with canary steps: the operator killed in the middle of a step
resumes at that step, neither restarting the rollout nor jumping ahead, with no duplicate
children.

World: the local control plane with kwok pods; the operator runs as a local process with
the chart's ServiceAccount token, is killed (SIGKILL, as an OOM kill or a lost node ends
it) and a new process is started with the same account and settings. The new process has
nothing but what the API server holds.
"""

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from tests.cluster import operator_harness as harness
from tests.cluster import rollouts as r
from tests.cluster.helpers import stays
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

models = harness.models

pytestmark = pytest.mark.cluster

NAME = "whisper"
PAUSE = 10  # step 1's pause; the operator is down for part of it
DOWNTIME = 4
STEPS = [r.timed(25, PAUSE), r.until_promoted(50)]


restartable_operator = harness.restartable_operator


def per_revision(items: list[Any]) -> Counter[str]:
    return Counter(item.metadata.labels[r.REVISION] for item in items)


def test_an_operator_killed_mid_step_resumes_at_that_step(
    restartable_operator: RunningOperator, models: ModelDeployments
) -> None:
    models.apply(r.manifest(NAME, "1.0.0", steps=STEPS))
    stable = r.wait_status(models, NAME, lambda s: bool(s.get("stableRevision")), "1.0.0 stable")[
        "stableRevision"
    ]
    with r.Recorder(models, NAME) as seen:
        models.apply(r.manifest(NAME, "1.1.0", steps=STEPS))
        before = r.wait_status(
            models,
            NAME,
            lambda s: (
                bool((s.get("rollout") or {}).get("weightReachedAt")) and s["canaryWeight"] == 25
            ),
            "step 1 reached, its pause running",
        )
        canary = before["canaryRevision"]
        canary_pods = {
            p.metadata.uid
            for p in models.core.list_namespaced_pod(
                models.namespace, label_selector=f"{r.REVISION}={canary}"
            ).items
        }

        restartable_operator.kill()
        recorded = r.status(models, NAME)
        stays(
            lambda: r.status(models, NAME),
            lambda now: now == recorded,
            DOWNTIME,
            "nobody writes status while the operator is down",
        )
        restartable_operator.start_again()
        at_2 = r.wait_status(models, NAME, r.at_step(2, "Paused"), "step 2 reached after restart")
        # Step 2 waits for a promote: no amount of resuming may skip it.
        stays(
            lambda: r.status(models, NAME),
            r.at_step(2, "Paused"),
            3,
            "held at step 2 after the restart",
        )
        r.annotate(models, NAME, r.PROMOTE, f"{canary}/1/2")
        r.wait_status(models, NAME, r.promoted(canary), "promoted after the restart")
        seen.settle()

    first, second = before["rollout"], at_2["rollout"]
    # The same rollout, resumed: same attempt and start, step 1 left only after its pause.
    assert (second["attempt"], second["startedAt"]) == (first["attempt"], first["startedAt"])
    left_step_1 = r.moment(second["stepStartedAt"]) - r.moment(first["weightReachedAt"])
    assert left_step_1 >= timedelta(seconds=PAUSE), f"step 1's pause ended early: {left_step_1}"
    steps = [step for (step,) in seen.rollout_states("step") if step is not None]
    assert steps == [1, 2, 3], f"the rollout went back or jumped: {steps}"
    assert [c for _, c in seen.replica_pairs(stable, canary)][-1] == 4
    assert r.reasons(models, NAME) == [
        "Serving", "RolloutStarted", "StepReached", "StepReached", "RolloutPaused", "Promoted",
    ]  # fmt: skip

    # No duplicate children: one Deployment, ReplicaSet and ConfigMap per revision, and the
    # canary pod running before the kill is still there.
    selector = f"{r.MODEL_DEPLOYMENT}={NAME}"
    config_maps = models.core.list_namespaced_config_map(models.namespace, label_selector=selector)
    replica_sets = models.apps.list_namespaced_replica_set(
        models.namespace, label_selector=selector
    )
    assert per_revision(models.deployments(NAME)) == Counter({stable: 1, canary: 1})
    assert per_revision(config_maps.items) == Counter({stable: 1, canary: 1})
    assert per_revision(replica_sets.items) == Counter({stable: 1, canary: 1})
    assert all(len(uids) == 1 for uids in seen.deployment_uids().values())
    now = {
        p.metadata.uid
        for p in models.core.list_namespaced_pod(
            models.namespace, label_selector=f"{r.REVISION}={canary}"
        ).items
    }
    assert canary_pods <= now, "the canary's pod was replaced across the restart"
