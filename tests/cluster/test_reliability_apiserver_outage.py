"""R3: the API server stopped for 30 s and for 2 min while one model serves and another is
in the middle of a canary with timed steps. The operator neither crashes nor exits, the model
pods are left alone, reconciling resumes once the API server is back, no condition flaps,
and the canary carries on from the step it was at.

World: a private local control plane (kwok nodes and pods), not the session's: stopping an
API server every other test shares would fail whatever runs beside it. The operator runs as a
local process with the chart's ServiceAccount token. An outage stops kube-apiserver and, as
a real control plane does, the controller-manager and the scheduler with it: they hold
leader leases, exit when they cannot renew them (10 s) and are restarted once the API server
answers. The local cluster runs them without leader election; kept running they would judge
every node by heartbeats they could not see during the outage, mark all pods NotReady at the
API server's return, and kwok (unlike a kubelet) never marks them Ready again.
"""

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from e2e.localcluster import LocalCluster
from tests.cluster import reliability as rel
from tests.cluster.helpers import eventually
from tests.cluster.reliability import PrivateWorld

pytestmark = pytest.mark.cluster

# Leader-elected in a real control plane: they go down and come back with the API server.
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
PAUSE = 20  # seconds of each canary step; step 1's pause ends during the outage
STEPS = [rel.timed(25, PAUSE), rel.timed(50, PAUSE)]
RESUME_BOUND = 60  # reconciling must resume within this long of the API server's return
DONE = 100  # the step the follower records once the rollout is over


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateWorld]:
    with rel.private_world(tmp_path_factory.mktemp("outage")) as private:
        yield private
        # An API server that has just started refuses requests for a moment, until its RBAC
        # caches are filled: the chart's RBAC must refuse nothing outside those moments.
        refused = [
            line
            for line in private.operator.refusals()
            if not any(start <= logged_at(line) <= end + GRACE for start, end in OUTAGES)
        ]
        assert refused == [], private.operator.log


OUTAGES: list[tuple[float, float]] = []  # (stopped, answering again), wall-clock
GRACE = 5.0


def logged_at(line: str) -> float:
    """The wall-clock time of an operator log line (`[2026-12-01 09:59:25,380] ...`)."""
    stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def reconciles_by_event(metrics: str) -> float:
    """Reconciles the watch streams asked for (not the resync or a timer)."""
    series = re.findall(r"^ferry_reconciles_total\{([^}]*)\} (\S+)$", metrics, re.MULTILINE)
    return sum(float(value) for labels, value in series if 'trigger="event"' in labels)


def moment(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def stop_control_plane(cluster: LocalCluster) -> float:
    for name in CONTROL_PLANE:
        cluster.stop_component(name)
    return time.time()


def start_control_plane(cluster: LocalCluster) -> float:
    """Returns when the API server answered (its /readyz), before the others start."""
    apiserver, *others = CONTROL_PLANE
    cluster.start_component(apiserver)
    answered = time.time()
    for name in others:
        cluster.start_component(name)
    return answered


@pytest.mark.parametrize("outage", [30, 120])
def test_an_api_server_outage_leaves_models_serving_and_the_canary_at_its_step(
    world: PrivateWorld, outage: int
) -> None:
    models, operator = world.models, world.operator
    serving, canary = f"serving-{outage}", f"canary-{outage}"
    models.apply(rel.manifest(serving, replicas=2))
    models.apply(rel.manifest(canary, replicas=4, steps=STEPS))
    for name in (serving, canary):
        models.wait_condition(name, "Ready", "True", timeout=60)
    models.apply(rel.manifest(canary, "2.0.0", replicas=4, steps=STEPS))
    rollout = eventually(
        lambda: models.get(canary)["status"].get("rollout") or {},
        lambda r: r.get("step") == 1 and bool(r.get("weightReachedAt")),
        30,
        "the canary at step 1, its pause running",
    )
    before = {name: rel.conditions(models, name) for name in (serving, canary)}
    serving_pods = rel.pods(models, serving)
    process = operator.process

    stopped = stop_control_plane(world.cluster)
    answered = []  # the operator's liveness endpoint while the API server is away
    deadline = time.monotonic() + outage
    while time.monotonic() < deadline:
        answered.append(process.process.poll() is None and process.healthy())
        time.sleep(2)
    back = start_control_plane(world.cluster)
    OUTAGES.append((stopped, back))
    assert all(answered), f"the operator died or failed its liveness probe: {operator.log}"

    steps: list[int] = []
    not_ready: list[str] = []

    def follow() -> dict[str, object]:
        status = models.get(canary)["status"]
        steps.append((status.get("rollout") or {}).get("step", DONE))
        not_ready.extend(name for name in (serving, canary) if not rel.ready(models, name))
        return status

    # Reconciling resumes: the rollout recorded before the outage (same start, same attempt)
    # moves from step 1, whose pause ended during the outage, to step 2.
    step2 = eventually(
        lambda: follow()["rollout"],
        lambda r: isinstance(r, dict) and r["step"] == 2,
        RESUME_BOUND,
        "step 2 entered after the outage",
    )
    assert isinstance(step2, dict)
    assert (step2["startedAt"], step2["attempt"]) == (rollout["startedAt"], rollout["attempt"])
    resumed = moment(step2["stepStartedAt"]) - back
    eventually(
        follow,
        lambda s: s.get("stableRevision") == s.get("revision") and not s.get("rollout"),
        PAUSE + 60,
        "the canary promoted after its step-2 pause",
    )
    print(f"outage {outage}s: step 2 entered {resumed:.1f}s after the API server answered")

    assert set(steps) <= {1, 2, 3, DONE}, steps
    assert steps == sorted(steps), f"the rollout went back a step: {steps}"
    assert not_ready == [], "a model stopped being Ready around the outage"
    assert rel.conditions(models, serving) == before[serving], (
        "a condition of a serving model flapped"
    )
    after = rel.conditions(models, canary)
    assert {k: v for k, v in after.items() if k not in rel.STEPPING} == {
        k: v for k, v in before[canary].items() if k not in rel.STEPPING
    }, "a condition of the canary flapped"
    assert rel.pods(models, serving) == serving_pods, "a serving model's pods were touched"
    counts = rel.children_per_revision(models, canary)
    assert all(n == 1 for per_kind in counts.values() for n in per_kind.values()), counts

    # The watch streams are back, not only the resync: a spec change wakes a reconcile up.
    woken = reconciles_by_event(process.metrics())
    models.cluster.kubectl("scale", "-n", models.namespace, f"md/{serving}", "--replicas=3")
    eventually(
        lambda: [d.spec.replicas for d in models.deployments(serving)],
        lambda replicas: replicas == [3],
        RESUME_BOUND,
        "the scale applied",
    )
    assert reconciles_by_event(process.metrics()) > woken
    assert models.condition(serving, "Ready")["status"] == "True"
    assert process.process.poll() is None, "the operator exited"
    assert rel.tracebacks(Path(operator.log)) == []
    for name in (serving, canary):
        models.cluster.kubectl("delete", "-n", models.namespace, f"md/{name}", "--wait=false")
