"""Soak (R17): M ModelDeployments (200 by default) whose version changes every two minutes
for a quarter of an hour: the operator's memory after warm-up (slope, against its idle
baseline and its size once warm, same run), the Events each rollout posts, what it writes
between rollouts, and any error in its log. Warm means the first five rollouts are over:
each model then holds as many revisions as it ever will (revisionHistoryLimit, 5 by
default), each rollout deleting one as it adds one.

World: a private local control plane, kwok nodes and pods, the operator as a local process
with the chart's ServiceAccount and default settings. Each round sets a new version on every
model at once (a canary with one timed step, then 100 %) and waits until all are promoted.

Run: .venv/bin/python -m benchmarks.soak [--models 200] [--minutes 15] [--period 120]
         [--warmup 5]
"""

import argparse
import collections
import functools
import re
import statistics
import threading
import time
from collections.abc import Sequence

from benchmarks import fleet
from benchmarks.fleet import World

STEPS = [{"weight": 50, "pause": {"duration": "20s"}}]
NAMESPACE = "soak"


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per minute."""
    times, values = zip(*samples, strict=True)
    return statistics.linear_regression(times, values).slope * 60


class Memory:
    """Samples the operator's RSS every `every` seconds in the background."""

    def __init__(self, world: World, every: float) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(every):
                self.samples.append((time.monotonic(), world.operator_rss()))

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def since(self, moment: float) -> list[tuple[float, float]]:
        return [(t, rss) for t, rss in self.samples if t >= moment]


def promoted(world: World, version: str) -> int:
    items = world.custom.list_namespaced_custom_object(
        fleet.GROUP, fleet.VERSION, NAMESPACE, fleet.PLURAL
    )["items"]
    return sum(
        (md.get("status") or {}).get("modelVersion") == version
        and not (md.get("status") or {}).get("rollout")
        and fleet.md_ready(md)
        for md in items
    )


def roll_all(world: World, models: int, version: str) -> float:
    """Set `version` on every model at once; seconds until every one is promoted."""
    patch = functools.partial(
        world.custom.patch_namespaced_custom_object, fleet.GROUP, fleet.VERSION, NAMESPACE,
        fleet.PLURAL,
    )  # fmt: skip
    started = time.monotonic()
    body = {"spec": {"model": {"version": version}}}
    fleet.create_all(lambda md: patch(md["metadata"]["name"], body),
                     [{"metadata": {"name": f"m{i}"}} for i in range(models)])  # fmt: skip
    while promoted(world, version) < models:
        time.sleep(5)
    return time.monotonic() - started


def ferry_events(world: World) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for event in world.core.list_namespaced_event(NAMESPACE).items:
        if event.reporting_component == "serving.ferry.dev/operator":
            counts[event.reason] += event.count or 1  # a repeated Event is one object
    return counts


def log_problems(world: World) -> list[str]:
    """ERROR lines and tracebacks in the operator's log."""
    lines = world.operator.log.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"\[ERROR|Traceback \(most recent", line)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the soak")
    parser.add_argument("--period", type=float, default=120.0, help="seconds between versions")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument(
        "--warmup", type=int, default=5,
        help="rollouts before memory counts as warm (default: the default revisionHistoryLimit)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with fleet.operator_world(pods=4 * args.models) as world:
        time.sleep(5)
        idle = world.operator_rss()
        memory = Memory(world, args.sample)
        world.namespace(NAMESPACE)
        create = functools.partial(
            world.custom.create_namespaced_custom_object, fleet.GROUP, fleet.VERSION,
            NAMESPACE, fleet.PLURAL,
        )  # fmt: skip
        bodies = [fleet.model_deployment(f"m{i}", replicas=2, rollout={"steps": STEPS})
                  for i in range(args.models)]  # fmt: skip
        started = time.monotonic()
        fleet.create_all(create, bodies)
        while promoted(world, "1.0.0") < args.models:
            time.sleep(5)
        print(f"{args.models} models Ready after {time.monotonic() - started:.0f}s", flush=True)
        rounds: list[tuple[str, float, float, float]] = []  # version, s, writes, quiet writes/min
        warm: float | None = None
        end = started + args.minutes * 60
        version = 1
        while time.monotonic() + args.period <= end or not rounds:
            version += 1
            round_started = time.monotonic()
            writes = world.writes()
            seconds = roll_all(world, args.models, f"{version}.0.0")
            during = world.writes() - writes
            if version - 1 == args.warmup:  # from now on a rollout removes a revision
                warm = time.monotonic()  # as it adds one: as many objects as it will hold
            quiet_from, quiet_writes = time.monotonic(), world.writes()
            time.sleep(max(0.0, round_started + args.period - time.monotonic()))
            quiet = (world.writes() - quiet_writes) * 60 / max(time.monotonic() - quiet_from, 1)
            rounds.append((f"{version}.0.0", seconds, during / args.models, quiet))
            print(f"  version {version}.0.0: all promoted in {seconds:.0f}s, "
                  f"{during / args.models:.1f} writes per model, "
                  f"{quiet:.1f} writes/min while quiet, RSS {world.operator_rss():.0f} MiB",
                  flush=True)  # fmt: skip
        memory.stop()
        if warm is None:
            print(f"  fewer rollouts than --warmup {args.warmup}: memory from the start")
        report(world, args, idle, memory, warm or started, rounds)


def report(
    world: World,
    args: argparse.Namespace,
    idle: float,
    memory: Memory,
    warm: float,
    rounds: list[tuple[str, float, float, float]],
) -> None:
    after = memory.since(warm)
    values = [rss for _, rss in after]
    slope = slope_per_minute(after) if len(after) >= 2 else 0.0
    minutes = (after[-1][0] - after[0][0]) / 60 if len(after) >= 2 else 0.0
    events = ferry_events(world)
    rollouts = len(rounds) * args.models
    print(f"\nsoak: {args.models} models, {len(rounds)} version changes, "
          f"{minutes:.1f} min sampled after warm-up")  # fmt: skip
    print(
        f"  operator RSS: idle {idle:.0f} MiB; after warm-up {values[0]:.0f} -> {values[-1]:.0f}"
        f" MiB (min {min(values):.0f}, max {max(values):.0f}); slope {slope:+.3f} MiB/min"
        f" ({slope * 60:+.1f} MiB per hour against {values[0] - idle:.0f} MiB grown to warm)"
    )
    print(
        f"  Events: {sum(events.values())} for {args.models} creates and {rollouts} rollouts "
        f"({sum(events.values()) / (args.models + rollouts):.2f} per create or rollout): "
        f"{dict(events.most_common())}"
    )
    print(
        f"  writes per model per rollout: {statistics.mean(r[2] for r in rounds):.1f}; "
        f"between rollouts: {statistics.mean(r[3] for r in rounds):.1f} writes/min"
    )
    problems = log_problems(world)
    print(f"  ERROR lines and tracebacks in the operator's log: {len(problems)}")
    for line in problems[:5]:
        print(f"    {line[:200]}")


if __name__ == "__main__":
    main()
