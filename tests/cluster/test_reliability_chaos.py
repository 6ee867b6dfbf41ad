"""R2: the operator killed at random, every 20 to 120 s, throughout a canary rollout with timed
steps and a scale up and down. Everything ends as it would without the kills: the new version
promoted after every step, the replicas asked for, one child per revision, and nothing
left not Ready, nor ever not Ready without a reason.

World: the session's local control plane with kwok pods; the operator runs as a local
process with the chart's ServiceAccount token and is killed with SIGKILL on a seeded
schedule (tests/cluster/reliability.Chaos), a new process starting a second later with the
same account and settings, as its Deployment would start one. A new process has nothing but
what the API server holds.
"""

from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster import operator_harness as harness
from tests.cluster import reliability as rel
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

models = harness.models

pytestmark = pytest.mark.cluster

NAME = "chaos"
# Kills about 22, 52, 86, 110 and 145 s in. The four pauses alone last 120 s, so at least
# four kills land in the scenario whatever the machine's speed.
SEED = 1990
STEPS = [rel.timed(20, 30), rel.timed(40, 30), rel.timed(60, 30), rel.timed(80, 30)]
LONG = 240  # bound on each phase: generous, since a kill may land in any of them


restartable_operator = harness.restartable_operator


class Follower:
    """Polls what a user watches: the rollout's step and why the model is not Ready."""

    def __init__(self, models: ModelDeployments) -> None:
        self.models = models
        self.steps: list[int] = []
        self.unexplained: list[dict[str, Any]] = []

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.models.get(NAME).get("status") or {}
        if status.get("rollout"):
            self.steps.append(status["rollout"]["step"])
        for condition in status.get("conditions") or []:
            if not condition.get("reason"):
                self.unexplained.append(condition)
        return status


def scale(models: ModelDeployments, replicas: int) -> None:
    models.cluster.kubectl("scale", "-n", models.namespace, f"md/{NAME}", f"--replicas={replicas}")


def serving_at(models: ModelDeployments, replicas: int) -> Callable[[dict[str, Any]], bool]:
    def accept(status: dict[str, Any]) -> bool:
        ready = models.condition(NAME, "Ready")
        return (
            status.get("observedGeneration") == models.get(NAME)["metadata"]["generation"]
            and (status.get("replicas"), status.get("readyReplicas")) == (replicas, replicas)
            and ready.get("status") == "True"
            and not status.get("rollout")
        )

    return accept


def test_random_operator_kills_change_nothing_a_user_sees_in_the_end(
    restartable_operator: RunningOperator, models: ModelDeployments
) -> None:
    seen = Follower(models)
    with rel.Chaos(restartable_operator, SEED) as chaos:
        models.apply(rel.manifest(NAME, "1.0.0", replicas=4, steps=STEPS))
        first = eventually(seen.status, serving_at(models, 4), LONG, "1.0.0 serving")["revision"]
        models.apply(rel.manifest(NAME, "2.0.0", replicas=4, steps=STEPS))
        eventually(seen.status, lambda _: bool(seen.steps) and seen.steps[-1] >= 2, LONG, "step 2")
        scale(models, 8)  # up, mid-canary: split between the revisions by the step's weight
        second = eventually(
            seen.status,
            lambda s: s.get("stableRevision") == s.get("revision") != first,
            LONG,
            "2.0.0 promoted",
        )["revision"]
        eventually(seen.status, serving_at(models, 8), LONG, "8 serving")
        scale(models, 2)
        eventually(seen.status, serving_at(models, 2), LONG, "2 serving")
    assert len(chaos.kills) >= 4, f"the schedule was meant to kill often: {chaos.kills}"

    status = seen.status()
    assert [e["outcome"] for e in status["history"]] == ["Promoted", "Promoted"]
    assert seen.steps == sorted(seen.steps), f"the rollout went back a step: {seen.steps}"
    assert set(seen.steps) >= {1, 2, 3}, f"a step was skipped: {sorted(set(seen.steps))}"
    assert seen.unexplained == [], "a condition without a reason"
    conditions = rel.conditions(models, NAME)
    assert {kind: conditions[kind][:2] for kind in ("Ready", "Degraded", "Stalled")} == {
        "Ready": ("True", "Serving"),
        "Degraded": ("False", "Healthy"),
        "Stalled": ("False", "Healthy"),
    }
    assert rel.children_per_revision(models, NAME) == {
        "Deployment": {first: 1, second: 1},
        "ConfigMap": {first: 1, second: 1},
    }
    replicas = {d.metadata.labels[rel.REVISION]: d.spec.replicas for d in models.deployments(NAME)}
    assert replicas == {first: 0, second: 2}
    assert len(rel.pods(models, NAME)) == 2
    logs = [*restartable_operator.earlier_logs, restartable_operator.log]
    assert rel.tracebacks(*logs) == []
    print(f"{len(chaos.kills)} kills; steps seen {sorted(set(seen.steps))}")
