"""R17, shortened: many ModelDeployments whose version changes again and again. What does not
need a quarter of an hour to show (memory over time is `python -m benchmarks.soak`): every
rollout completes, each posts a bounded handful of Events (no flood), the operator logs no
error, and once everything settled it writes nothing and lists nothing, reading one object
per reconcile (the rest comes from its watch caches).

World: the session's local control plane with kwok pods; the operator as a local process
with the chart's RBAC, resyncing every 10 s (as the cluster tier runs it), so a steady
window of 25 s sees every object reconciled at least twice.
"""

import collections
import concurrent.futures
import json
import re
import time

import pytest

from tests.cluster import operator_harness as harness
from tests.cluster import reliability as rel
from tests.cluster import rollouts
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

MODELS = 20
ROUNDS = 2
STEPS = [rel.timed(50, 5)]
# A create posts Serving; a rollout RolloutStarted, a StepReached per step, Promoted.
EVENTS_PER_CREATE, EVENTS_PER_ROLLOUT = 1, 2 + len(STEPS)
STEADY = 25  # seconds: the resync (10 s) reconciles every object twice at least


def all_promoted(models: ModelDeployments, version: str) -> bool:
    items = models.custom.list_namespaced_custom_object(
        harness.GROUP, harness.VERSION, models.namespace, harness.PLURAL
    )["items"]
    return len(items) == MODELS and all(
        (md.get("status") or {}).get("modelVersion") == version
        and not md["status"].get("rollout")
        and md["metadata"]["generation"] == md["status"]["observedGeneration"]
        for md in items
    )


def set_version(models: ModelDeployments, version: str) -> None:
    patch = json.dumps({"spec": {"model": {"version": version}}})

    def one(i: int) -> None:
        models.cluster.kubectl("patch", "-n", models.namespace, f"md/m{i}", "--type=merge",
                               "-p", patch)  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(MODELS)))


def errors(operator: RunningOperator) -> list[str]:
    lines = operator.log.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"\[ERROR|Traceback \(most recent", line)]


def test_repeated_rollouts_of_many_models_stay_bounded_quiet_and_error_free(
    ferry_operator: RunningOperator, models: ModelDeployments
) -> None:
    already = errors(ferry_operator)
    models.apply("---\n".join(rel.manifest(f"m{i}", steps=STEPS) for i in range(MODELS)))
    eventually(lambda: all_promoted(models, "1.0.0"), bool, 120, "every model serving 1.0.0")
    for round_ in range(2, ROUNDS + 2):
        set_version(models, f"{round_}.0.0")
        eventually(
            lambda v=f"{round_}.0.0": all_promoted(models, v), bool, 180, f"{round_}.0.0 promoted"
        )

    # Events: a bounded handful per create and per rollout, each model's own.
    found = models.core.list_namespaced_event(models.namespace).items
    ours = [e for e in found if e.reporting_component == "serving.ferry.dev/operator"]
    per_model: collections.Counter[str] = collections.Counter()
    for event in ours:  # a repeated Event is one object with a count
        per_model[event.involved_object.name] += event.count or 1
    bound = EVENTS_PER_CREATE + ROUNDS * EVENTS_PER_ROLLOUT
    assert len(per_model) == MODELS, per_model
    assert max(per_model.values()) <= bound, per_model
    assert {e.reason for e in ours} <= {
        "Serving", "RolloutStarted", "StepReached", "Promoted",
    }, "an Event that says something went wrong"  # fmt: skip

    # Settled: no writes, no reads (the watch caches hold the objects and all). Earlier
    # tests' namespaces must be gone first: the operator writes while their models go.
    rollouts.no_namespace_terminating(models)
    ferry_operator.wait_quiet()
    metric = ferry_operator.metric_total
    counted = (
        lambda: metric("ferry_api_writes_total"),
        lambda: metric("ferry_api_reads_total", verb="list"),
        lambda: metric("ferry_api_reads_total", verb="get"),
        lambda: metric("ferry_reconciles_total"),
    )
    before = [count() for count in counted]
    time.sleep(STEADY)
    writes, listed, read, reconciles = (
        count() - b for count, b in zip(counted, before, strict=True)
    )
    assert reconciles >= 2 * MODELS, "the resync did not run"
    assert (writes, listed, read) == (0, 0, 0), "a settled reconcile went to the API server"
    assert errors(ferry_operator) == already, "the operator logged an error"
