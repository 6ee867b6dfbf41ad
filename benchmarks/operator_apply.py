"""Operator overhead: N ModelDeployments until Ready vs the same N Deployments + Services
(+ ConfigMaps) applied directly until Available, same cluster, same run; the API writes
Ferry spends per ModelDeployment created (against the least it could: its children and one
status write) and per minute of steady state; and the Events and writes of one model's whole
life (created, Ready, rolled out in steps, promoted, deleted).

World: a private local control plane (kwok pods turn Ready without running containers), the
operator as a local process with the chart's ServiceAccount and default settings.

Run: .venv/bin/python -m benchmarks.operator_apply [--counts 1 50] [--steady 60]
"""

import argparse
import collections
import contextlib
import re
import threading
import time
from typing import Any

import yaml
from kubernetes import watch
from urllib3.exceptions import ProtocolError

from benchmarks import fleet
from benchmarks.fleet import World
from ferry.api.parse import DEFAULT_IMAGES, DefaultImages, parse_model_deployment
from ferry.build.children import Shape, desired_children
from ferry.build.config import config_map
from ferry.build.network import OperatorIdentity, service
from ferry.build.workload import deployment, revision_of

USER_OBJECT_PATCHES = re.compile(
    r'^apiserver_request_total\{(?=[^}]*resource="modeldeployments")(?=[^}]*subresource="")'
    r'(?=[^}]*verb="PATCH")[^}]*\} (\S+)$',
    re.MULTILINE,
)
# What the operator logs for each write (kube/reconciler.py), by kind of write.
LOGGED_WRITES = {
    "apply": re.compile(r"\] (\S+): applied (\S+) (\S+)$"),
    "status": re.compile(r"\] (\S+)/(\S+): status written"),
    "scale": re.compile(r"\] (\S+)/(\S+): scaled "),
    "delete": re.compile(r"\] (\S+)/(\S+): deleted "),
}
LIFE_STEPS = [{"weight": 50, "pause": {"duration": "5s"}}]


def parsed(body: dict[str, Any], namespace: str, images: DefaultImages = DEFAULT_IMAGES) -> Any:
    body = {**body, "metadata": {**body["metadata"], "namespace": namespace, "uid": "none",
                                 "generation": 1}}  # fmt: skip
    return parse_model_deployment(body, images)


def bare_objects(name: str, namespace: str) -> list[dict[str, Any]]:
    """What Ferry would create for `name`, minus the owner: the same pods, applied directly."""
    return unowned_children(fleet.model_deployment(name), namespace)


def unowned_children(
    body: dict[str, Any], namespace: str, images: DefaultImages = DEFAULT_IMAGES
) -> list[dict[str, Any]]:
    """The ConfigMap, Deployment and Service Ferry renders for the ModelDeployment `body`,
    without the owner reference."""
    md = parsed(body, namespace, images)
    revision = revision_of(md)
    objects = [config_map(md, revision), deployment(md, revision, md.spec.replicas), service(md)]
    for obj in objects:
        del obj["metadata"]["ownerReferences"]
    return objects


def least_writes(namespace: str) -> int:
    """The fewest writes a create can take: one apply per child, one status write."""
    md = parsed(fleet.model_deployment("m"), namespace)
    revision = revision_of(md)
    shape = Shape(replicas=1, total=1, stable="", canary="", canary_weight=0)
    identity = OperatorIdentity("ferry-system", {"app.kubernetes.io/name": "ferry"})
    return len(desired_children(md, revision, shape, identity)) + 1


def wait(probe: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's objects did not become ready")
        time.sleep(0.2)


def bare_seconds(world: World, count: int) -> float:
    namespace = world.namespace(f"bench-bare-{count}")
    docs = [o for i in range(count) for o in bare_objects(f"m{i}", namespace)]
    started = time.monotonic()
    world.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def available() -> bool:
        items = world.apps.list_namespaced_deployment(namespace).items
        return len(items) == count and all(
            fleet.deployment_ready(world.api.sanitize_for_serialization(d)) for d in items
        )

    wait(available)
    return time.monotonic() - started


def ferry_seconds(world: World, count: int) -> float:
    namespace = world.namespace(f"bench-ferry-{count}")
    docs = [fleet.model_deployment(f"m{i}") for i in range(count)]
    started = time.monotonic()
    world.cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))

    def ready() -> bool:
        items = world.custom.list_namespaced_custom_object(
            fleet.GROUP, fleet.VERSION, namespace, fleet.PLURAL
        )["items"]
        return len(items) == count and all(fleet.md_ready(md) for md in items)

    wait(ready)
    return time.monotonic() - started


def user_object_patches(world: World) -> float:
    """Patches of the ModelDeployments themselves (not status): Ferry should make none."""
    metrics = world.cluster.kubectl("get", "--raw", "/metrics").stdout
    return sum(float(v) for v in USER_OBJECT_PATCHES.findall(metrics))


def logged_writes(world: World, namespace: str) -> collections.Counter[str]:
    """The operator's writes in `namespace` as its log tells them, by kind of write (and
    child kind for applies); events are not logged, the metrics count them."""
    counts: collections.Counter[str] = collections.Counter()
    for line in world.operator.log.read_text().splitlines():
        for what, pattern in LOGGED_WRITES.items():
            found = pattern.search(line)
            if found and found.group(1) == namespace:
                counts[f"apply {found.group(2)}" if what == "apply" else what] += 1
    return counts


def events(world: World, namespace: str) -> list[tuple[str, str]]:
    """Ferry's Events in `namespace`, oldest first: (object, reason)."""
    found = world.core.list_namespaced_event(namespace).items
    ours = [e for e in found if e.reporting_component == "serving.ferry.dev/operator"]
    ours.sort(key=lambda e: (e.first_timestamp or e.event_time, e.metadata.creation_timestamp))
    return [(e.involved_object.name, e.reason) for e in ours]


def run_counts(world: World, args: argparse.Namespace) -> None:
    print(f"{'N':>4} {'bare s':>8} {'ferry s':>8} {'ratio':>6} {'writes/MD':>10} "
          f"{'least':>6} {'ratio':>6} {'events/MD':>10} {'MD patches/MD':>14} "
          f"{'steady writes/min':>18}")  # fmt: skip
    for count in args.counts:
        bare = bare_seconds(world, count)
        writes_before, patches_before = world.settle(), user_object_patches(world)
        events_before = world.operator_metric("ferry_api_writes_total", resource="events")
        ferry = ferry_seconds(world, count)
        writes_after, patches_after = world.settle(), user_object_patches(world)
        events_after = world.operator_metric("ferry_api_writes_total", resource="events")
        time.sleep(args.steady)
        steady = (world.writes() - writes_after) * 60 / args.steady
        writes = (writes_after - writes_before) / count
        least = least_writes(f"bench-ferry-{count}")
        print(
            f"{count:>4} {bare:>8.2f} {ferry:>8.2f} {ferry / bare:>6.2f} {writes:>10.1f} "
            f"{least:>6} {writes / least:>6.2f} {(events_after - events_before) / count:>10.1f} "
            f"{(patches_after - patches_before) / count:>14.1f} {steady:>18.1f}",
            flush=True,
        )
        breakdown = logged_writes(world, f"bench-ferry-{count}")
        per_md = ", ".join(f"{what} {n / count:.2f}" for what, n in sorted(breakdown.items()))
        print(f"     per ModelDeployment, from the operator's log: {per_md}", flush=True)


class StatusLog:
    """Every status the API server stored for one object, from a watch: what each status
    write changed."""

    def __init__(self, world: World, namespace: str, name: str) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._stop = threading.Event()
        list_call = fleet.model_deployments_in(world, namespace)

        def follow() -> None:
            stream = watch.Watch().stream(
                list_call, field_selector=f"metadata.name={name}", timeout_seconds=600
            )
            with contextlib.suppress(ProtocolError):  # the API server ended the stream
                for event in stream:
                    status = event["raw_object"].get("status") or {}
                    if status and (not self.statuses or status != self.statuses[-1]):
                        self.statuses.append(status)
                    if self._stop.is_set():
                        return

        self._thread = threading.Thread(target=follow, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def changes(self) -> list[str]:
        """Per status write: the conditions whose status or reason changed, and the other
        top-level fields that changed."""
        out = []
        previous: dict[str, Any] = {}
        for status in self.statuses:
            before = {c["type"]: (c["status"], c["reason"]) for c in previous.get("conditions", [])}
            moved = [
                f"{c['type']} {before.get(c['type'], ('-', ''))[0]}->{c['status']} {c['reason']}"
                for c in status.get("conditions", [])
                if before.get(c["type"]) != (c["status"], c["reason"])
            ]
            fields = sorted(
                key for key in status.keys() | previous.keys()
                if key != "conditions" and status.get(key) != previous.get(key)
            )  # fmt: skip
            out.append("; ".join(moved + ([f"fields: {', '.join(fields)}"] if fields else [])))
            previous = status
        return out


def run_life(world: World) -> None:
    """One model's life: created, Ready, a new version rolled out in a step, promoted,
    deleted; the Events it got and the writes it cost at each stage."""
    namespace = world.namespace("bench-life")
    custom = world.custom

    def status() -> dict[str, Any]:
        found: dict[str, Any] = (
            custom.get_namespaced_custom_object(
                fleet.GROUP, fleet.VERSION, namespace, fleet.PLURAL, "life"
            ).get("status")
            or {}
        )
        return found

    stages: list[tuple[str, float]] = []
    writes = world.settle()

    def stage(name: str) -> None:
        nonlocal writes
        now = world.settle()
        stages.append((name, now - writes))
        writes = now

    log = StatusLog(world, namespace, "life")
    body = fleet.model_deployment("life", rollout={"steps": LIFE_STEPS})
    custom.create_namespaced_custom_object(
        fleet.GROUP, fleet.VERSION, namespace, fleet.PLURAL, body
    )
    wait(lambda: fleet.md_ready({"status": status()}))
    stage("create -> Ready")
    patch = {"spec": {"model": {"version": "2.0.0"}}}
    custom.patch_namespaced_custom_object(
        fleet.GROUP, fleet.VERSION, namespace, fleet.PLURAL, "life", patch
    )
    wait(lambda: bool(status().get("stableRevision")) and status().get("modelVersion") == "2.0.0")
    stage("rollout -> promoted")
    custom.delete_namespaced_custom_object(
        fleet.GROUP, fleet.VERSION, namespace, fleet.PLURAL, "life"
    )
    stage("delete")
    log.stop()
    seen = events(world, namespace)
    print(f"one model's life ({len(LIFE_STEPS)} step at 50 %, then 100 %):")
    for name, count in stages:
        print(f"  {name:<22} {count:>4.0f} writes")
    print(f"  Events ({len(seen)}): {', '.join(reason for _, reason in seen)}")
    print(f"  writes by kind: {dict(sorted(logged_writes(world, namespace).items()))}")
    print("  each status write, what changed:")
    for number, change in enumerate(log.changes(), 1):
        print(f"    {number:>2}. {change}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state")
    args = parser.parse_args()
    with fleet.operator_world(pods=2 * max(args.counts)) as world:
        run_counts(world, args)
        run_life(world)


if __name__ == "__main__":
    main()
