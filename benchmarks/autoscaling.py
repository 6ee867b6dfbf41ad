"""Ferry's autoscaler on real pods: how soon it scales out and back in, and what clients
see meanwhile, against the same load on a fixed number of replicas.

World: a private local cluster with its real node, the operator as a host process with the
chart's RBAC evaluating every `--interval` seconds, the pods tier's `slow` model (0.2 s per
forward pass) served from the host. Load: `--clients` closed-loop clients through the
Service's ClusterIP for `--load` seconds (tests/pods/scaling.py: N clients are about N
requests in flight, spread over the ready pods). Each phase in its own namespace, one after
the other, in the same run:

- fixed N (each N of `--fixed`): `spec.replicas` N, no autoscaling. Apply to every pod
  Ready (the pod start of this image, the operator included), then the load: the answers'
  latency p50/p99.
- autoscaled `--min`..`--max`, `concurrency` target `--target` per pod, scale-down window
  `--down-window` s: from `--min` pods, the same load. Seconds from the load's start to the
  first higher desired count in status, to `--max` desired, to `--max` pods Ready; changes
  of the desired count once at `--max` under the same load (flapping); latency p50/p99
  while scaling (requests sent before `--max` pods were Ready) and after. Then the load
  stops: seconds to `--min` desired in status, and to `--min` pods left (none terminating).

Run: .venv/bin/python -m benchmarks.autoscaling [--clients 6] [--load 90] [--interval 5]
     [--target 2] [--min 1] [--max 3] [--down-window 30] [--fixed 1 3]
"""

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.realnode import Bench, operator_world
from e2e.localcluster import LocalCluster
from ferry.api import labels
from tests.cluster.rollouts import status
from tests.pods.artifacts import PackagedModel
from tests.pods.load import LoadResult
from tests.pods.scaling import ROWS, autoscaling, clients
from tests.pods.serving import RealModels, first_answer, model_deployment

NAME = "scaled"
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Sample:
    at: float  # seconds after the load started
    desired: int | None  # status.autoscaling.desiredReplicas
    ready: int  # ready pods
    pods: int  # every pod, terminating ones included


def sample(models: RealModels, started: float) -> Sample:
    selector = f"{labels.MODEL_DEPLOYMENT}={NAME}"
    pods = models.core.list_namespaced_pod(models.namespace, label_selector=selector).items
    ready = sum(
        p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        for p in pods
    )
    desired = autoscaling(status(models, NAME)).get("desiredReplicas")
    return Sample(time.monotonic() - started, desired, ready, len(pods))


def record(
    models: RealModels, started: float, until: Callable[[Sample], bool], timeout: float
) -> list[Sample]:
    """Samples every POLL_SECONDS until one satisfies `until`; TimeoutError after `timeout`."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while not samples or not until(samples[-1]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no sample satisfied the phase's end; last {samples[-1]}")
        time.sleep(POLL_SECONDS)
        samples.append(sample(models, started))
    return samples


def first(samples: list[Sample], accept: Callable[[Sample], bool]) -> float:
    return next(s.at for s in samples if accept(s))


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def describe(label: str, result: LoadResult, since: float = 0.0, before: float = 1e9) -> float:
    """Print the answers sent in [since, before) s of the load; return their p50."""
    latencies = [r.seconds for r in result.responses if since <= r.sent_at < before]
    failed = sum(1 for r in result.failures() if since <= r.sent_at < before)
    p50, p99 = percentiles(latencies)
    print(f"  {label:<34} p50 {p50:6.0f} ms  p99 {p99:6.0f} ms  ({len(latencies)} answers,"
          f" {failed} failed)")  # fmt: skip
    return p50


class Run:
    def __init__(self, bench: Bench, model: PackagedModel, args: argparse.Namespace) -> None:
        self.bench, self.model, self.args = bench, model, args
        self.node = bench.node

    def models(self, namespace: str) -> RealModels:
        return RealModels(self.bench.cluster, namespace)

    def fixed(self, replicas: int) -> tuple[float, float]:
        """Seconds from apply to every pod Ready, and the p50 (ms) under the load."""
        with self.bench.namespace(f"fixed{replicas}") as ns:
            models = self.models(ns)
            started = time.monotonic()
            models.apply_md(model_deployment(self.model, self.node, NAME, replicas=replicas))
            record(models, started, lambda s: s.ready == replicas, 300)
            ready = time.monotonic() - started
            url = models.prediction_url(NAME, "podnet")
            first_answer(url, ROWS)
            result = clients(self.node, url, self.args.clients, self.args.load).start().wait()
            print(f"fixed {replicas}: all pods Ready {ready:.1f}s after apply")
            return ready, describe(f"{self.args.load:.0f}s of load", result)

    def autoscaled(self) -> tuple[float, float]:
        """The scaling timeline; returns the p50s (ms) while scaling and at the maximum."""
        args = self.args
        policy = {
            "minReplicas": args.min,
            "maxReplicas": args.max,
            "metric": "concurrency",
            "target": args.target,
            "scaleDown": {"stabilizationSeconds": args.down_window},
        }
        with self.bench.namespace("auto") as ns:
            models = self.models(ns)
            models.apply_md(model_deployment(self.model, self.node, NAME, autoscaling=policy))
            models.wait_ready(NAME)
            record(models, time.monotonic(), lambda s: s.ready == args.min, 300)
            url = models.prediction_url(NAME, "podnet")
            first_answer(url, ROWS)
            load = clients(self.node, url, args.clients, args.load).start()
            loaded = record(models, load.started, lambda s: s.at >= args.load, args.load + 30)
            result = load.wait()
            stopped = loaded[-1].at
            settle = args.down_window + 10 * args.interval + 60
            unloaded = record(
                models, load.started, lambda s: s.desired == s.pods == args.min, settle
            )
        up = first(loaded, lambda s: (s.desired or 0) > args.min)
        decided = first(loaded, lambda s: s.desired == args.max)
        ready = first(loaded, lambda s: s.ready >= args.max)
        at_max = [s.desired for s in loaded if s.at >= decided]
        flaps = sum(a != b for a, b in itertools.pairwise(at_max))
        down = first(unloaded, lambda s: s.desired == args.min) - stopped
        gone = unloaded[-1].at - stopped
        print(f"autoscaled {args.min}..{args.max}, target {args.target} in flight per pod,"
              f" evaluated every {args.interval}s:")  # fmt: skip
        print(f"  load start -> desired > {args.min} in status     {up:6.1f}s")
        print(f"  load start -> desired {args.max} in status        {decided:6.1f}s")
        print(f"  load start -> {args.max} pods Ready               {ready:6.1f}s")
        print(f"  desired-count changes at {args.max} under load   {flaps:6d}"
              f"  (over {stopped - decided:.0f}s)")  # fmt: skip
        print(f"  load stop  -> desired {args.min} in status        {down:6.1f}s"
              f"  (scale-down window {args.down_window}s)")  # fmt: skip
        print(f"  load stop  -> {args.min} pod left                 {gone:6.1f}s")
        scaling = describe(f"while scaling (sent < {ready:.0f}s)", result, before=ready)
        steady = describe(f"at {args.max} pods (sent >= {ready:.0f}s)", result, since=ready)
        return scaling, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--load", type=float, default=90.0, help="seconds of load per phase")
    parser.add_argument("--interval", type=int, default=5, help="autoscaler evaluation, s")
    parser.add_argument("--target", type=float, default=2.0)
    parser.add_argument("--min", type=int, default=1)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--down-window", type=int, default=30)
    parser.add_argument("--fixed", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        work = Path(tmp)
        cluster = LocalCluster(run_dir=work / "cluster")
        cluster.up()
        try:
            settings = {"AUTOSCALE_INTERVAL_SECONDS": str(args.interval)}
            with operator_world(cluster, work, **settings) as (models, api):
                compare(Run(Bench(cluster, models.slow, api), models.slow, args), args)
        finally:
            cluster.down()


def compare(run: Run, args: argparse.Namespace) -> None:
    print(f"{args.clients} closed-loop clients against `slow` (0.2 s per forward pass)")
    fixed = {replicas: run.fixed(replicas) for replicas in args.fixed}
    scaling, steady = run.autoscaled()
    for replicas, (ready, p50) in fixed.items():
        print(f"p50 while scaling / fixed {replicas}: {scaling / p50:.2f};"
              f" at the maximum / fixed {replicas}: {steady / p50:.2f}"
              f" (fixed {replicas} Ready after apply: {ready:.1f}s)")  # fmt: skip


if __name__ == "__main__":
    main()
