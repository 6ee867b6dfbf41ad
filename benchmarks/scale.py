"""Scale: N ModelDeployments created at once (N = 100, 500, 1,000 by default) against the
bare baseline, the same N Deployments + Services (+ ConfigMaps) created at once, in the same
run on the same cluster: time until all are Ready (Available), throughput, each object's
time to Ready (p50, p99), the operator's memory, its API writes per object, and, in steady
state, its writes per minute, its reads per reconcile and the lists anyone sent.

World: a private local control plane, kwok nodes (110 pods each, as many as the pods need)
and pods, the operator as a local process with the chart's ServiceAccount and default
settings; a fresh operator process for each N (a clean memory baseline). Creates go out 8 at
a time for both sides; ready times come from watches, so nothing polls the API server.

The controller-manager runs with a client rate of 200 requests per second (its default of
20 caps both sides at ~4 objects/s: each Deployment costs it a ReplicaSet and pods), so that
the figures are Ferry's and the API server's, not a throttle's; `--controller-qps 0` keeps
its default.

Run: .venv/bin/python -m benchmarks.scale [--counts 100 500 1000] [--steady 60]
         [--controller-qps 200]
"""

import argparse
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks import fleet
from benchmarks.fleet import World
from benchmarks.operator_apply import bare_objects

LISTED = ("modeldeployments", "pods", "deployments", "configmaps", "services", "nodes")


@dataclass(frozen=True)
class Run:
    count: int
    seconds: float  # first create sent -> last object ready
    latencies: list[float]  # per object: its create returned -> it was first seen ready
    cpu: dict[str, float]  # CPU seconds each process spent meanwhile

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def p(self, fraction: float) -> float:
        return fleet.percentile(self.latencies, fraction)


def timed(
    world: World,
    create: Callable[[dict[str, Any]], Any],
    bodies: list[dict[str, Any]],
    watched: Callable[..., Any],
    is_ready: Callable[[dict[str, Any]], bool],
    count: int,
    key: Callable[[dict[str, Any]], str] = fleet.name_of,
) -> Run:
    """`key` names each body as the watched objects are named (those it times)."""
    ready = fleet.ReadyTimes(watched, is_ready, count)
    cpu = world.cpu()
    started = time.monotonic()
    created = fleet.create_all(create, bodies, key)
    ready.wait()
    latencies = [ready.seen[name] - created[name] for name in ready.seen]
    spent = {name: seconds - cpu.get(name, 0.0) for name, seconds in world.cpu().items()}
    return Run(count, max(ready.seen.values()) - started, latencies, spent)


def bare(world: World, count: int) -> Run:
    namespace = world.namespace(f"bare-{count}")
    creators = {
        "ConfigMap": functools.partial(world.core.create_namespaced_config_map, namespace),
        "Deployment": functools.partial(world.apps.create_namespaced_deployment, namespace),
        "Service": functools.partial(world.core.create_namespaced_service, namespace),
    }
    bodies = [o for i in range(count) for o in bare_objects(f"m{i}", namespace)]

    def timed_by_deployments(body: dict[str, Any]) -> str:
        name = fleet.name_of(body)  # a model's three objects share it
        return name if body["kind"] == "Deployment" else f"{body['kind']}/{name}"

    run = timed(
        world,
        lambda body: creators[body["kind"]](body),
        bodies,
        fleet.deployments_in(world, namespace),
        fleet.deployment_ready,
        count,
        timed_by_deployments,
    )
    world.delete_namespace(namespace)
    return run


@dataclass(frozen=True)
class Costs:
    rss_mib: float  # the operator's growth over its idle baseline, with the N objects settled
    writes: float  # per object, create to settled
    reconciles: float  # per object, create to settled
    events: float  # per object
    steady_writes_per_minute: float
    steady_reads_per_reconcile: float
    steady_lists: float  # the operator's, over the steady window
    apiserver_lists: float  # anyone's LIST requests of the watched kinds, same window
    reconciles_per_minute: float


def ferry(world: World, count: int, steady: float) -> tuple[Run, Costs]:
    world.restart_operator()
    time.sleep(5)  # the new process listed and watches: its idle baseline
    idle = world.operator_rss()
    namespace = world.namespace(f"ferry-{count}")
    writes = world.writes()
    events = world.operator_metric("ferry_api_writes_total", resource="events")
    created_from = world.operator_metric("ferry_reconciles_total")
    create = functools.partial(
        world.custom.create_namespaced_custom_object, fleet.GROUP, fleet.VERSION, namespace,
        fleet.PLURAL,
    )  # fmt: skip
    bodies = [fleet.model_deployment(f"m{i}") for i in range(count)]
    run = timed(
        world, create, bodies, fleet.model_deployments_in(world, namespace), fleet.md_ready, count
    )
    settled = world.settle()
    created_events = world.operator_metric("ferry_api_writes_total", resource="events") - events
    created_reconciles = world.operator_metric("ferry_reconciles_total") - created_from

    def reads() -> tuple[float, float, float]:
        return (
            world.operator_metric("ferry_api_reads_total", verb="get"),
            world.operator_metric("ferry_api_reads_total", verb="list"),
            world.operator_metric("ferry_reconciles_total"),
        )

    def apiserver_lists() -> float:
        return sum(
            world.apiserver_metric("apiserver_request_total", verb="LIST", resource=r)
            for r in LISTED
        )

    gets, lists, reconciles = reads()
    listed = apiserver_lists()
    time.sleep(steady)
    gets2, lists2, reconciles2 = reads()
    listed2 = apiserver_lists()
    steady_reconciles = reconciles2 - reconciles
    costs = Costs(
        rss_mib=world.operator_rss() - idle,
        writes=(settled - writes) / count,
        reconciles=created_reconciles / count,
        events=created_events / count,
        steady_writes_per_minute=(world.writes() - settled) * 60 / steady,
        steady_reads_per_reconcile=((gets2 - gets) + (lists2 - lists)) / max(steady_reconciles, 1),
        steady_lists=lists2 - lists,
        apiserver_lists=listed2 - listed,
        reconciles_per_minute=steady_reconciles * 60 / steady,
    )
    world.delete_namespace(namespace)
    return run, costs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state")
    parser.add_argument(
        "--controller-qps", type=int, default=200,
        help="restart kube-controller-manager with this client QPS (burst twice that); 0"
        " keeps its default, 20, which caps the bare baseline: Deployments, ReplicaSets, pods",
    )  # fmt: skip
    args = parser.parse_args(argv)
    runs: dict[int, tuple[Run, Run, Costs]] = {}
    with fleet.operator_world(pods=max(args.counts)) as world:
        if args.controller_qps:
            qps = args.controller_qps
            world.cluster.stop_component("kube-controller-manager")
            world.cluster.start_component(
                "kube-controller-manager",
                extra_args=[f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"],
            )
            print(f"kube-controller-manager: --kube-api-qps={qps} --kube-api-burst={2 * qps}")
        for count in args.counts:
            baseline = bare(world, count)
            run, costs = ferry(world, count, args.steady)
            runs[count] = (baseline, run, costs)
            report(count, baseline, run, costs)
    first, last = min(runs), max(runs)
    if first != last:
        ratio = runs[last][1].p(0.99) / runs[first][1].p(0.99)
        bare_ratio = runs[last][0].p(0.99) / runs[first][0].p(0.99)
        print(f"p99 time to Ready at {last} / at {first}: Ferry {ratio:.2f}x"
              f" (bare Deployments {bare_ratio:.2f}x)")  # fmt: skip


def report(count: int, baseline: Run, run: Run, costs: Costs) -> None:
    print(f"\nN = {count}")
    print(f"  {'':<28} {'bare':>10} {'Ferry':>10} {'ratio':>7}")
    rows = [
        ("all Ready, s", baseline.seconds, run.seconds),
        ("throughput, objects/s", baseline.rate, run.rate),
        ("time to Ready p50, s", baseline.p(0.5), run.p(0.5)),
        ("time to Ready p99, s", baseline.p(0.99), run.p(0.99)),
        (
            "time to Ready mean, s",
            statistics.mean(baseline.latencies),
            statistics.mean(run.latencies),
        ),
    ]
    for name, left, right in rows:
        print(f"  {name:<28} {left:>10.2f} {right:>10.2f} {right / left:>7.2f}")
    for side, run_ in (("bare", baseline), ("Ferry", run)):
        spent = ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(
            run_.cpu.items(), key=lambda item: -item[1]) if seconds >= 0.5)  # fmt: skip
        print(f"  CPU seconds, {side} ({2 * run_.seconds:.0f} on 2 cores): {spent}")
    per_thousand = costs.rss_mib * 1000 / count
    print(f"  operator RSS growth: {costs.rss_mib:.1f} MiB ({per_thousand:.1f} MiB per 1,000)")
    print(f"  API writes per ModelDeployment: {costs.writes:.2f} (events {costs.events:.2f});"
          f" reconciles {costs.reconciles:.1f}")  # fmt: skip
    print(f"  steady state: {costs.steady_writes_per_minute:.1f} writes/min, "
          f"{costs.reconciles_per_minute:.0f} reconciles/min, "
          f"{costs.steady_reads_per_reconcile:.2f} reads per reconcile, "
          f"{costs.steady_lists:.0f} lists by the operator, "
          f"{costs.apiserver_lists:.0f} LISTs of the watched kinds at the API server",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
