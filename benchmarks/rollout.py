"""Rollouts on real pods: what a Ferry canary costs against Kubernetes' own rolling update
of the same pods, and how fast a bad canary is gone. Two replicas, a load loop of 10
requests/s through the Service the whole time (every non-200 counted).

- **Baseline**: v1 -> v2 as a plain Deployment: the one Ferry renders for v1, its pod
  template replaced by the one Ferry renders for v2 (the selector's labels kept), rolled by
  Kubernetes (RollingUpdate: maxSurge 1, maxUnavailable 0 at two replicas). From the apply
  until every replica is updated and available and the old ones are scaled away.
- **Ferry**: the same change of a ModelDeployment, steps `[50%]` then the implicit 100 %,
  no pause, no analysis (`tests/pods/canary.py`'s trial). From the apply until promoted
  (the old revision scaled to zero in the same step);
  each step from the status' own timestamps (microseconds, the operator's clock = this
  host's): entered -> weight reached (its canary pods answer) -> left.
- **Bad canary**: `flaky` (a quarter of its requests 500) at 50 % with analysis every
  `--interval` s, `failureLimit: 0`: the bound is interval x (failureLimit + 1). From the
  canary's first answer the clients saw to its last (issue 9's rollback latency, goal <= 1.2
  x the bound); from its failed interval to RolledBack in status and to its last answer.

World: a private local cluster with its real node, the operator as a host process with the
chart's ServiceAccount, the archives of `tests/pods/artifacts.py` served from the host.
Each round uses fresh namespaces, Ferry and the baseline alternating which goes first.

Run: .venv/bin/python -m benchmarks.rollout [--rounds 2] [--interval 10]
"""

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from benchmarks.operator_apply import unowned_children
from benchmarks.realnode import IMAGES, Bench, operator_world, wait
from e2e.localcluster import LocalCluster
from tests.cluster import rollouts as r
from tests.pods.artifacts import PodModels
from tests.pods.canary import (
    NAME,
    REPLICAS,
    ROWS,
    Stable,
    promoted_to,
    roll_out,
    rolled_back,
    serve_stable,
)
from tests.pods.load import LoadLoop
from tests.pods.serving import RealModels, first_answer, model_deployment

RATE = 10  # requests/s, as the canary trials send
LOAD_SECONDS = 300  # the loop's own bound, far beyond one rollout


@dataclass(frozen=True)
class Rolled:
    seconds: float  # from the apply until the old pods' Deployment is at zero
    non_200: int
    requests: int


@dataclass(frozen=True)
class Canary(Rolled):
    steps: list[tuple[float, float]]  # per step: entered -> weight reached, -> left (s)
    started: float  # the apply to the rollout's first step entered (s)


@dataclass(frozen=True)
class Rollback:
    answered: float  # the canary's first answer to its last, as clients saw it (s)
    to_rolled_back: float  # the failed interval's end to RolledBack in status (s)
    to_last_answer: float  # the failed interval's end to the canary's last answer (s)
    other_failures: int  # failed requests the canary does not explain (not its 500s)
    cause: str


def deployment_done(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    d = apps.read_namespaced_deployment(name, namespace)
    status, want = d.status, d.spec.replicas
    return bool(
        status.observed_generation == d.metadata.generation
        and (status.updated_replicas or 0) == want
        and (status.available_replicas or 0) == want
        and (status.replicas or 0) == want
    )


def baseline(bench: Bench, models: PodModels) -> Rolled:
    """v1 -> v2 rolled by Kubernetes: one Deployment, its template changed."""
    node = bench.node
    v1_md, v2_md = (
        model_deployment(m, node, NAME, replicas=REPLICAS) for m in (models.v1, models.v2)
    )
    with bench.namespace("bare") as ns:
        v1 = {o["kind"]: o for o in unowned_children(v1_md, ns, IMAGES)}
        v2 = {o["kind"]: o for o in unowned_children(v2_md, ns, IMAGES)}
        bench.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(v1.values()))
        name = v1["Deployment"]["metadata"]["name"]
        wait("the bare v1 Deployment", lambda: deployment_done(bench.apps, ns, name), 300)
        url = f"http://{bench.core.read_namespaced_service(NAME, ns).spec.cluster_ip}"
        url += f"/predictions/{NAME}"
        assert first_answer(url, ROWS)[0] == 200
        changed = v1["Deployment"]
        template = v2["Deployment"]["spec"]["template"]
        template["metadata"]["labels"].update(changed["spec"]["selector"]["matchLabels"])
        changed["spec"]["template"] = template
        rolled = yaml.safe_dump_all([v2["ConfigMap"], changed])
        bound = int(RATE * LOAD_SECONDS)
        with LoadLoop(node, url, [{"data": ROWS}], requests=bound, seconds=LOAD_SECONDS,
                      rate=RATE) as load:  # fmt: skip
            started = time.monotonic()
            bench.cluster.kubectl("apply", "-f", "-", input=rolled)
            wait("the bare rollout", lambda: deployment_done(bench.apps, ns, name), 300)
            seconds = time.monotonic() - started
            time.sleep(2)  # and the first requests after it
        result = load.result()
    return Rolled(seconds, len(result.failures()), len(result.responses))


def ferry_rollout(bench: Bench, models: PodModels, interval: int) -> tuple[Canary, Rollback]:
    """In one namespace: v1 serving, the flaky canary rolled back, then v2 promoted."""
    with bench.namespace("ferry") as ns:
        md = RealModels(bench.cluster, ns)
        try:
            plain = {"steps": [{"weight": 50}], "progressDeadlineSeconds": 120}
            stable = serve_stable(bench.cluster, md, models.v1, plain)
            rollback = bad_canary(stable, models, interval)
            canary = good_canary(stable, models, plain)
        finally:
            md.close()
    return canary, rollback


def good_canary(stable: Stable, models: PodModels, rollout: dict[str, Any]) -> Canary:
    v2 = models.v2.version
    trial = roll_out(stable, models.v2, rollout, until=promoted_to(v2), settles_on=v2)
    # Promotion scales the old revision to zero in the same status write.
    promoted_at = stamp(trial.final["history"][0]["at"])
    entered = {x["step"]: stamp(x["stepStartedAt"]) for x in trial.rollouts()}
    reached = {
        x["step"]: stamp(x["weightReachedAt"]) for x in trial.rollouts() if x.get("weightReachedAt")
    }
    steps = []
    for step in sorted(entered):
        left = entered.get(step + 1, promoted_at)
        steps.append((reached.get(step, left) - entered[step], left - entered[step]))
    seconds = promoted_at - trial.applied_at
    started = entered[1] - trial.applied_at
    return Canary(seconds, len(trial.load.failures()), len(trial.load.responses), steps, started)


def bad_canary(stable: Stable, models: PodModels, interval: int) -> Rollback:
    analysis = {"intervalSeconds": interval, "minRequests": 10, "maxErrorRate": 0.01,
                "failureLimit": 0}  # fmt: skip
    rollout = {"steps": [{"weight": 50}], "analysis": analysis, "progressDeadlineSeconds": 120}
    flaky, v1 = models.flaky.version, models.v1.version
    trial = roll_out(stable, models.flaky, rollout, until=rolled_back(flaky), settles_on=v1)
    failed = next(x for x in trial.analysis_records if x["verdict"] == "Failed")
    end = stamp(failed["at"])
    window = trial.canary_window(models)  # its first answer to its last
    last = trial.load.started_at + window[-1].sent_at
    labels = [trial.answered_by(models, x) for x in trial.load.responses]
    return Rollback(
        answered=window[-1].sent_at - window[0].sent_at,
        to_rolled_back=stamp(trial.final["history"][0]["at"]) - end,
        to_last_answer=last - end,
        other_failures=labels.count(None),  # neither a 500 nor an answer of v1's or v2's
        cause=trial.final["rollout"]["message"],
    )


def stamp(text: str) -> float:
    return r.moment(text).timestamp()


def report(
    bares: list[Rolled], canaries: list[Canary], rollbacks: list[Rollback], interval: int
) -> None:
    print("\nv1 -> v2 on two replicas, from the apply to the old pods scaled away:")
    for i, (bare, canary) in enumerate(zip(bares, canaries, strict=True), 1):
        steps = ", ".join(
            f"step {n} weight reached {a:.1f}s, left {b:.1f}s after entering"
            for n, (a, b) in enumerate(canary.steps, 1)
        )
        print(
            f"  round {i}: Kubernetes {bare.seconds:.1f}s ({bare.non_200} non-200 of"
            f" {bare.requests}), Ferry {canary.seconds:.1f}s ({canary.non_200} non-200 of"
            f" {canary.requests}); Ferry: apply -> step 1 {canary.started:.2f}s, {steps}"
        )
    base = statistics.median(x.seconds for x in bares)
    ferry = statistics.median(x.seconds for x in canaries)
    count = len(canaries[0].steps)
    print(
        f"  medians: Kubernetes {base:.1f}s, Ferry {ferry:.1f}s, ratio {ferry / base:.2f};"
        f" Ferry - Kubernetes {ferry - base:+.1f}s, {(ferry - base) / count:+.1f}s per step"
        f" ({count} steps, no pauses)"
    )
    print(f"\nflaky canary at 50%, analysis every {interval}s, failureLimit 0 (bound {interval}s):")
    for i, x in enumerate(rollbacks, 1):
        print(
            f"  round {i}: the canary answered for {x.answered:.1f}s"
            f" ({x.answered / interval:.2f} x the bound); from its failed interval: RolledBack"
            f" {x.to_rolled_back:.2f}s, its last answer {x.to_last_answer:.1f}s; failures not"
            f" the canary's: {x.other_failures}; {x.cause}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval", type=int, default=10, help="analysis interval, s")
    args = parser.parse_args()
    bares: list[Rolled] = []
    canaries: list[Canary] = []
    rollbacks: list[Rollback] = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-rollout-") as tmp:
        work = Path(tmp)
        cluster = LocalCluster(run_dir=work / "cluster")
        cluster.up()
        try:
            with operator_world(cluster, work) as (models, api):
                bench = Bench(cluster, models.v1, api)
                for round_ in range(args.rounds):
                    if round_ % 2:
                        canary, rollback = ferry_rollout(bench, models, args.interval)
                        bares.append(baseline(bench, models))
                    else:
                        bares.append(baseline(bench, models))
                        canary, rollback = ferry_rollout(bench, models, args.interval)
                    canaries.append(canary)
                    rollbacks.append(rollback)
                    print(f"round {round_ + 1} done", flush=True)
        finally:
            cluster.down()
    report(bares, canaries, rollbacks, args.interval)


if __name__ == "__main__":
    main()
