"""Drift repair (R7): a model's child edited or deleted by someone else, again and again;
how long until Ferry has put it back (p50, p95, max) and how many writes each repair cost
(to the child's kind, and in all).

World: a private local control plane (kwok pods), one ModelDeployment, the operator as a
local process with the chart's ServiceAccount and default settings. Each edit is made
alone: the operator is let settle (no write for 5 s) before the next. The time runs from
the edit's response to the first watch event showing the child restored (a watch from the
edit's resourceVersion, so nothing polls and nothing is missed).

Run: .venv/bin/python -m benchmarks.drift [--rounds 5]
"""

import argparse
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import watch

from benchmarks import fleet
from benchmarks.fleet import World

NAMESPACE = "drift"
MODEL = "m0"
OWNER = "serving.ferry.dev/model-deployment"
EVIL_IMAGE = "evil:1"


@dataclass(frozen=True)
class Edit:
    kind: str  # the child's resource, as the operator's metrics name it
    list_call: Callable[..., Any]  # the namespace's list function of that kind
    make: Callable[[str], str]  # child name -> resourceVersion the edit left
    restored: Callable[[dict[str, Any], str], bool]  # (watch event, edited object's name)


def edits(world: World) -> list[tuple[str, Edit]]:
    apps, core = world.apps, world.core

    def image(name: str) -> str:
        patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                  "value": EVIL_IMAGE}]  # fmt: skip
        return str(
            apps.patch_namespaced_deployment(name, NAMESPACE, patch).metadata.resource_version
        )

    def port(name: str) -> str:
        patch = [{"op": "replace", "path": "/spec/ports/0/port", "value": 8000}]
        return str(core.patch_namespaced_service(name, NAMESPACE, patch).metadata.resource_version)

    def delete(name: str) -> str:
        # From before the delete: the new Deployment may be there before a later list.
        version = str(apps.list_namespaced_deployment(NAMESPACE).metadata.resource_version)
        apps.delete_namespaced_deployment(name, NAMESPACE)
        return version

    def image_back(event: dict[str, Any], _: str) -> bool:
        containers = event["raw_object"]["spec"]["template"]["spec"]["containers"]
        return event["type"] == "MODIFIED" and containers[0]["image"] != EVIL_IMAGE

    def port_back(event: dict[str, Any], _: str) -> bool:
        return event["raw_object"]["spec"]["ports"][0]["port"] != 8000

    def created_again(event: dict[str, Any], name: str) -> bool:
        return event["type"] == "ADDED" and event["raw_object"]["metadata"]["name"] == name

    deployments = functools.partial(apps.list_namespaced_deployment, NAMESPACE)
    services = functools.partial(core.list_namespaced_service, NAMESPACE)
    return [
        ("Deployment image edited", Edit("deployments", deployments, image, image_back)),
        ("Service port edited", Edit("services", services, port, port_back)),
        ("Deployment deleted", Edit("deployments", deployments, delete, created_again)),
    ]


def child_name(world: World, kind: str) -> str:
    selector = f"{OWNER}={MODEL}"
    if kind == "services":
        found = world.core.list_namespaced_service(NAMESPACE, label_selector=selector).items
    else:
        found = world.apps.list_namespaced_deployment(NAMESPACE, label_selector=selector).items
    (child,) = [c for c in found if c.metadata.deletion_timestamp is None]
    return str(child.metadata.name)


def repair(world: World, edit: Edit) -> tuple[float, float, float]:
    """Seconds to restored, writes to the child's kind, writes in all."""
    name = child_name(world, edit.kind)
    writes = world.writes()
    kind_writes = world.operator_metric("ferry_api_writes_total", resource=edit.kind)
    started = time.monotonic()
    version = edit.make(name)
    stream = watch.Watch().stream(
        edit.list_call, resource_version=version, timeout_seconds=60,
        field_selector=f"metadata.name={name}",
    )  # fmt: skip
    seconds = next((time.monotonic() - started for e in stream if edit.restored(e, name)), None)
    if seconds is None:
        raise TimeoutError(f"{edit.kind} {name} not restored within 60 s")
    settled = world.settle()
    kind_after = world.operator_metric("ferry_api_writes_total", resource=edit.kind)
    return seconds, kind_after - kind_writes, settled - writes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="edits of each kind")
    args = parser.parse_args(argv)
    with fleet.operator_world(pods=10) as world:
        world.namespace(NAMESPACE)
        world.custom.create_namespaced_custom_object(
            fleet.GROUP, fleet.VERSION, NAMESPACE, fleet.PLURAL, fleet.model_deployment(MODEL)
        )
        ready = fleet.ReadyTimes(fleet.model_deployments_in(world, NAMESPACE), fleet.md_ready, 1)
        ready.wait(300)
        world.settle()
        every: list[float] = []
        for title, edit in edits(world):
            runs = [repair(world, edit) for _ in range(args.rounds)]
            seconds = [s for s, _, _ in runs]
            every += seconds
            print(f"  {title}: restored in p50 {fleet.percentile(seconds, 0.5):.2f} s, "
                  f"max {max(seconds):.2f} s; writes per repair: "
                  f"{[int(k) for _, k, _ in runs]} to {edit.kind}, "
                  f"{[int(a) for _, _, a in runs]} in all", flush=True)  # fmt: skip
        print(f"all {len(every)} repairs: p50 {fleet.percentile(every, 0.5):.2f} s, "
              f"p95 {fleet.percentile(every, 0.95):.2f} s, max {max(every):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
