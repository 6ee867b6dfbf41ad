"""Versions that cannot serve are reported with their reasons, in the pod agent's words,
while the stable version keeps answering every request correctly.

- a handler that raises in `initialize`: TorchServe's `/ping` stays Healthy, but no worker
  turns READY; the agent says `WorkersNotReady`, the operator `ModelHealthy=False` with it;
- a golden request (`spec.model.probe`) answered wrongly: `ProbeMismatch` with what differs.

Each bad version is a canary beside the stable v1 (no `spec.rollout.steps`: the whole new
revision at once, promoted only once it answers; `progressDeadlineSeconds: 30` rolls it back).
A load loop through the Service's ClusterIP runs the whole time: not one non-200, every
answer v1's. A first revision that cannot load is not Ready, for the agent's reason.

World: the session's local cluster and real node, the operator on the host, the archives on
the host's artifact server. The stable ModelDeployment serves both canary tests.
"""

import itertools
import time
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually
from tests.pods.artifacts import PROBE_ROWS, PackagedModel, PodModels, close, probe_for
from tests.pods.load import LoadLoop, LoadResult
from tests.pods.serving import (
    READY_SECONDS,
    RealModels,
    first_answer,
    model_deployment,
    wait_single_ready_pod,
)

pytestmark = pytest.mark.pods

NAME = "stable"
ROLLOUT = {"progressDeadlineSeconds": 30}
ROWS = [[0.25 * (i % 7) for i in range(16)]]
# Bounds of each canary's load loop; the canary's report and rollback take ~20-60 s.
LOAD = {"requests": 3000, "seconds": 150, "concurrency": 2, "rate": 10}


@dataclass(frozen=True)
class Stable:
    models: RealModels
    url: str


@pytest.fixture(scope="module")
def stable(cluster: ClusterAccess, pod_models: PodModels, module_models: RealModels) -> Stable:
    module_models.apply_md(
        model_deployment(pod_models.v1, cluster.real_node, NAME, rollout=ROLLOUT)
    )
    module_models.wait_ready(NAME)
    wait_single_ready_pod(module_models, NAME, pod_models.v1.version)
    url = module_models.prediction_url(NAME, "podnet")
    assert first_answer(url, ROWS)[0] == 200
    return Stable(module_models, url)


@dataclass(frozen=True)
class Canary:
    healthy: dict[str, Any]  # the ModelHealthy condition once the agent's reason showed
    ready: dict[str, Any]  # Ready at that moment
    history: dict[str, Any]  # the canary's entry in status.history after its rollback
    load: LoadResult  # what clients of the Service saw from before the rollout to after
    window: tuple[float, float]  # from the apply to the last canary pod gone (as `sent_at`)


def roll_out_bad_canary(
    cluster: ClusterAccess,
    stable: Stable,
    model: PackagedModel,
    reason: str,
    model_overrides: dict[str, Any] | None = None,
) -> Canary:
    """Roll `model` out beside the stable v1 under load; wait for `reason` and the rollback."""
    models = stable.models
    document = model_deployment(
        model, cluster.real_node, NAME, rollout=ROLLOUT, model_overrides=model_overrides
    )
    with LoadLoop(cluster.real_node, stable.url, [{"data": ROWS}], **LOAD) as load:
        time.sleep(2)  # clients are answered before the change, too
        applied = time.monotonic() - load.started
        models.apply_md(document)
        healthy = models.wait_condition(NAME, "ModelHealthy", "False", reason, READY_SECONDS)
        ready = models.condition(NAME, "Ready")

        def entry() -> dict[str, Any]:
            history = models.get(NAME)["status"].get("history") or []
            return next((h for h in history if h["version"] == model.version), {})

        rolled_back = eventually(
            entry, lambda h: h.get("outcome") == "RolledBack", 90, f"{model.version} rolled back"
        )
        eventually(
            lambda: [p for p in models.pods(NAME) if p.version == model.version],
            lambda pods: pods == [],
            60,
            f"no pod of {model.version} left",
        )
        gone = time.monotonic() - load.started
        time.sleep(3)  # and after it
    return Canary(healthy, ready, rolled_back, load.result(), (applied, gone))


def assert_v1_answered_everything(canary: Canary, v1: PackagedModel) -> None:
    """Clients were answered throughout, by v1 only: before the apply, after the canary's
    last pod went, and with no silence of more than a client's timeout in between."""
    result, (applied, gone) = canary.load, canary.window
    sent = sorted(r.sent_at for r in result.responses)
    assert sent, "no request was sent"
    assert sent[0] < applied, f"the first request went {sent[0]:.1f}s in, the apply {applied:.1f}s"
    assert sent[-1] > gone, f"the last request went {sent[-1]:.1f}s in, the canary left {gone:.1f}s"
    longest = max(b - a for a, b in itertools.pairwise(sent))
    assert longest < 10, f"no request was sent for {longest:.1f}s"
    assert result.failures() == [], result.statuses()
    expected = v1.answer(ROWS)
    wrong = [r for r in result.responses if not close(r.body, expected)]
    assert wrong == [], wrong[:3]


def test_a_handler_raising_in_initialize_is_reported_and_the_stable_version_serves_on(
    cluster: ClusterAccess, pod_models: PodModels, stable: Stable
) -> None:
    canary = roll_out_bad_canary(cluster, stable, pod_models.broken, "WorkersNotReady")
    assert "0 of 1 workers are READY" in canary.healthy["message"], canary.healthy
    assert "0 of 1 workers are READY" in canary.history["reason"], canary.history  # the why
    assert (canary.ready["status"], canary.ready["reason"]) == ("True", "Serving"), canary.ready
    assert_v1_answered_everything(canary, pod_models.v1)
    status = stable.models.get(NAME)["status"]
    assert status["modelVersion"] == pod_models.v1.version
    assert stable.models.condition(NAME, "Ready")["status"] == "True"


def test_a_golden_probe_mismatch_is_reported_and_the_stable_version_serves_on(
    cluster: ClusterAccess, pod_models: PodModels, stable: Stable
) -> None:
    """v2 deployed with a golden request that expects v1's answer: v2 loads, answers, and
    answers differently, which is exactly what a probe is there to catch."""
    v1, v2 = pod_models.v1, pod_models.v2
    expected = v1.answer(PROBE_ROWS)
    probe = {"probe": probe_for(PROBE_ROWS, expected)}
    canary = roll_out_bad_canary(cluster, stable, v2, "ProbeMismatch", probe)
    message = canary.healthy["message"]
    assert "output[0][0]: " in message, message
    assert f"differs from {expected[0][0]}" in message, message
    assert f"differs from {expected[0][0]}" in canary.history["reason"], canary.history
    assert canary.ready["status"] == "True", canary.ready
    assert_v1_answered_everything(canary, v1)
    assert stable.models.get(NAME)["status"]["modelVersion"] == v1.version


def test_a_first_revision_that_cannot_load_is_not_ready_for_the_agents_reason(
    cluster: ClusterAccess, pod_models: PodModels, real_models: RealModels
) -> None:
    broken = pod_models.broken
    real_models.apply_md(model_deployment(broken, cluster.real_node, "fresh"))
    healthy = real_models.wait_condition(
        "fresh", "ModelHealthy", "False", "WorkersNotReady", READY_SECONDS
    )
    ready = real_models.condition("fresh", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WorkersNotReady"), ready
    assert "0 of 1 workers are READY" in ready["message"], ready
    # The serving process runs (TorchServe's /ping would say Healthy): it is the model that
    # does not load, and no pod of it is ready.
    pods = real_models.pods("fresh")
    assert [pod.ready for pod in pods] == [False], pods
    assert "0 of 1 workers are READY" in healthy["message"]
