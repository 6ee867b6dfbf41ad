"""What the rollout tests on real pods share: a version rolled out beside the serving stable
one while a load loop runs through the Service's ClusterIP, and what a client saw of it.

    trial = roll_out(stable, pod_models.flaky, rollout, until=rolled_back)
    window = trial.canary_window(pod_models)     # the requests sent while the canary answered

The stable version is v1; every canary version (v2, flaky, slow) carries v2's weights, so
each answer tells which revision served it (`PodModels.identify`), and a 500 can only come
from the flaky canary. A watch-based recorder (`tests/cluster/rollouts.py`) keeps every
status the API server stored, so analysis records and shares that lasted one interval are
still there after the rollout ended (`status.rollout` goes with a promotion).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from e2e.localcluster import ClusterAccess
from tests.cluster import rollouts as r
from tests.cluster.helpers import eventually
from tests.pods.artifacts import PackagedModel, PodModels
from tests.pods.load import LoadLoop, LoadResult, Response
from tests.pods.serving import READY_SECONDS, RealModels, first_answer, model_deployment

NAME = "podnet"
ROWS = [[0.25 * (i % 7) - 0.5 for i in range(16)]]
REPLICAS = 2  # a 50 % step is then one canary pod beside one stable pod
AFTER_SECONDS = 3  # the loop runs on this long once the rollout settled


@dataclass(frozen=True)
class Stable:
    cluster: ClusterAccess
    models: RealModels
    url: str  # predictions through the Service's ClusterIP
    v1: PackagedModel


def serve_stable(
    cluster: ClusterAccess, models: RealModels, v1: PackagedModel, rollout: dict[str, Any]
) -> Stable:
    """v1 on REPLICAS pods, every one answering through the Service."""
    models.apply_md(
        model_deployment(v1, cluster.real_node, NAME, replicas=REPLICAS, rollout=rollout)
    )
    models.wait_ready(NAME)
    stable = Stable(cluster, models, models.prediction_url(NAME, "podnet"), v1)
    settled_on(stable, v1.version)
    assert first_answer(stable.url, ROWS)[0] == 200
    return stable


def settled_on(stable: Stable, version: str) -> None:
    """Every pod of the model is a ready pod of `version`, REPLICAS of them (the others gone)."""
    eventually(
        lambda: stable.models.pods(NAME),
        lambda pods: len(pods) == REPLICAS and all(p.ready and p.version == version for p in pods),
        READY_SECONDS,
        f"{REPLICAS} ready pods of {version} and no other",
    )


@dataclass(frozen=True)
class Trial:
    version: str  # the model version rolled out
    final: dict[str, Any]  # status when `until` accepted it
    recorder: r.Recorder  # every change of the model's Deployments, pods and status
    events: list[r.Event]  # the model's Events since the apply
    load: LoadResult  # every request, from before the apply to after the settling
    applied_at: float  # wall clock (time.time()) just before the apply

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """Every status the API server stored, from before the apply on."""
        return list(self.recorder.statuses)

    def rollouts(self) -> list[dict[str, Any]]:
        """`status.rollout` of this version, after every change."""
        found = [s.get("rollout") or {} for s in self.statuses]
        return [x for x in found if x.get("version") == self.version]

    @property
    def analysis_records(self) -> list[dict[str, Any]]:
        """Every analysis record of this rollout any status held, oldest first, each once."""
        seen: dict[str, dict[str, Any]] = {}
        for rollout in self.rollouts():
            for record in rollout.get("analysis") or []:
                seen.setdefault(record["at"], record)
        return [seen[at] for at in sorted(seen, key=r.moment)]

    def canary_weights(self) -> list[int]:
        """status.canaryWeight after every change (the ready canary share, in percent)."""
        weights = [s.get("canaryWeight", 0) for s in self.statuses]
        return [w for i, w in enumerate(weights) if i == 0 or weights[i - 1] != w]

    def answered_by(self, pod_models: PodModels, response: Response) -> str | None:
        """`v1` (stable), `v2` (a canary's weights), `500` (only the flaky canary fails)."""
        if response.status == 500:
            return "500"
        if response.status != 200:
            return None
        return pod_models.identify(ROWS, response.body)

    def canary_window(self, pod_models: PodModels) -> list[Response]:
        """The requests sent from the canary's first answer to its last, in order."""
        labels = [self.answered_by(pod_models, x) for x in self.load.responses]
        canary = [i for i, label in enumerate(labels) if label in ("v2", "500")]
        assert canary, f"no request reached the canary: {self.load.statuses()}"
        return self.load.responses[canary[0] : canary[-1] + 1]

    def after(self, window: list[Response]) -> list[Response]:
        """The requests sent after the window."""
        return [x for x in self.load.responses if x.index > window[-1].index]


def rolled_back(version: str) -> Callable[[dict[str, Any]], bool]:
    def accept(status: dict[str, Any]) -> bool:
        rollout = status.get("rollout") or {}
        return (rollout.get("version"), rollout.get("phase")) == (version, "RolledBack")

    return accept


def promoted_to(version: str) -> Callable[[dict[str, Any]], bool]:
    def accept(status: dict[str, Any]) -> bool:
        return status.get("modelVersion") == version and not status.get("canaryRevision")

    return accept


def roll_out(
    stable: Stable,
    model: PackagedModel,
    rollout: dict[str, Any],
    *,
    until: Callable[[dict[str, Any]], bool],
    settles_on: str,
    rate: float = 10,
    timeout: float = 180,
    **spec: Any,
) -> Trial:
    """Apply `model` with `rollout` (and `spec`'s other top-level fields) under a load loop
    of `rate` requests/s; wait for `until`, then for the model to settle on version
    `settles_on`, and AFTER_SECONDS of load more."""
    models, node = stable.models, stable.cluster.real_node
    document = model_deployment(model, node, NAME, replicas=REPLICAS, rollout=rollout, **spec)
    seconds = 400  # the loop's bound, far beyond what a trial takes
    with (
        r.Recorder(models, NAME) as recorder,
        LoadLoop(
            node,
            stable.url,
            [{"data": ROWS}],
            requests=int(rate * seconds),
            seconds=seconds,
            rate=rate,
        ) as load,
    ):
        earlier = len(r.events(models, NAME))
        applied_at = time.time()
        models.apply_md(document)
        final = r.wait_status(models, NAME, until, f"{model.version}: the end", timeout)
        settled_on(stable, settles_on)
        more = len(load.result().responses) + int(rate * AFTER_SECONDS)
        eventually(
            lambda: len(load.result().responses),
            lambda count: count >= more,
            AFTER_SECONDS * 3 + 10,
            f"{AFTER_SECONDS} s more of requests answered",
        )
    events = r.events(models, NAME)[earlier:]
    return Trial(model.version, final, recorder, events, load.result(), applied_at)
