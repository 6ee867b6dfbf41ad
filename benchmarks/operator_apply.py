"""Operator overhead: N ModelDeployments until Ready vs the same N Deployments + Services
(+ ConfigMaps) applied directly until Available, same cluster, same run; and the API writes
Ferry spends per ModelDeployment created and per minute of steady state.

World: a private local control plane (kwok pods turn Ready without running containers), the
operator as a local process with the chart's ServiceAccount and default settings.

Run: .venv/bin/python -m benchmarks.operator_apply [--counts 1 50] [--steady 60]
"""

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from e2e.demo_operator import (
    ACCESS_KINDS,
    OperatorProcess,
    install_access,
    render_chart,
    start_operator,
)
from e2e.localcluster import ClusterAccess, LocalCluster
from ferry.api.parse import DEFAULT_IMAGES, DefaultImages, parse_model_deployment
from ferry.build.config import config_map
from ferry.build.network import service
from ferry.build.workload import deployment, revision_of

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
USER_OBJECT_PATCHES = re.compile(
    r'^apiserver_request_total\{(?=[^}]*resource="modeldeployments")(?=[^}]*subresource="")'
    r'(?=[^}]*verb="PATCH")[^}]*\} (\S+)$',
    re.MULTILINE,
)


def model_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.ferry.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "mlp", "version": "1.0.0", "uri": "s3://m/mlp.mar", "sha256": SHA},
            "runtime": {"image": "ghcr.io/ferry/torchserve:0.12.0-cpu"},
            "resources": {"cpu": "100m", "memory": "256Mi"},
            "replicas": 1,
        },
    }


def bare_objects(name: str, namespace: str) -> list[dict[str, Any]]:
    """What Ferry would create for `name`, minus the owner: the same pods, applied directly."""
    return unowned_children(model_deployment(name), namespace)


def unowned_children(
    body: dict[str, Any], namespace: str, images: DefaultImages = DEFAULT_IMAGES
) -> list[dict[str, Any]]:
    """The ConfigMap, Deployment and Service Ferry renders for the ModelDeployment `body`,
    without the owner reference."""
    body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
    body["metadata"].update(uid="none", generation=1)
    md = parse_model_deployment(body, images)
    revision = revision_of(md)
    objects = [config_map(md, revision), deployment(md, revision, md.spec.replicas), service(md)]
    for obj in objects:
        del obj["metadata"]["ownerReferences"]
    return objects


def wait(probe: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's objects did not become ready")
        time.sleep(0.2)


def bare_seconds(cluster: ClusterAccess, apps: client.AppsV1Api, count: int) -> float:
    namespace = f"bench-bare-{count}"
    cluster.kubectl("create", "namespace", namespace)
    docs = [o for i in range(count) for o in bare_objects(f"m{i}", namespace)]
    started = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def available() -> bool:
        items = apps.list_namespaced_deployment(namespace).items
        return len(items) == count and all(
            any(c.type == "Available" and c.status == "True" for c in d.status.conditions or [])
            and (d.status.ready_replicas or 0) == d.spec.replicas
            for d in items
        )

    wait(available)
    return time.monotonic() - started


def ferry_seconds(cluster: ClusterAccess, custom: client.CustomObjectsApi, count: int) -> float:
    namespace = f"bench-ferry-{count}"
    cluster.kubectl("create", "namespace", namespace)
    docs = [model_deployment(f"m{i}") for i in range(count)]
    started = time.monotonic()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))

    def ready() -> bool:
        items = custom.list_namespaced_custom_object(
            "serving.ferry.dev", "v1alpha1", namespace, "modeldeployments"
        )["items"]
        return len(items) == count and all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (md.get("status") or {}).get("conditions", [])
            )
            for md in items
        )

    wait(ready)
    return time.monotonic() - started


def ferry_writes(operator: OperatorProcess) -> float:
    pattern = re.compile(r"^ferry_api_writes_total\{[^}]*\} (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(operator.metrics()))


def user_object_patches(cluster: ClusterAccess) -> float:
    """Patches of the ModelDeployments themselves (not status): Ferry should make none."""
    metrics = cluster.kubectl("get", "--raw", "/metrics").stdout
    return sum(float(v) for v in USER_OBJECT_PATCHES.findall(metrics))


def settle(operator: OperatorProcess, quiet: float = 5) -> float:
    """Wait until the operator stops writing; return its write count."""
    count = ferry_writes(operator)
    while True:
        time.sleep(quiet)
        count, previous = ferry_writes(operator), count
        if count == previous:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as work:
        cluster = LocalCluster(run_dir=Path(work) / "cluster")
        cluster.up()
        operator = None
        try:
            cluster.kubectl("create", "namespace", "ferry-system")
            objects = render_chart("ferry", "ferry-system")
            install_access(cluster, [o for o in objects if o["kind"] in ACCESS_KINDS])
            kubeconfig = cluster.service_account_kubeconfig(
                "ferry-system", "ferry", Path(work) / "operator.kubeconfig"
            )
            operator = start_operator(kubeconfig, "ferry-system", "ferry", Path(work) / "op.log")
            with cluster.api_client() as api:
                run(cluster, operator, client.AppsV1Api(api), client.CustomObjectsApi(api), args)
        finally:
            if operator is not None:
                operator.stop()
            cluster.down()


def run(
    cluster: ClusterAccess,
    operator: OperatorProcess,
    apps: client.AppsV1Api,
    custom: client.CustomObjectsApi,
    args: argparse.Namespace,
) -> None:
    print(f"{'N':>4} {'bare s':>8} {'ferry s':>8} {'ratio':>6} "
          f"{'writes/MD':>10} {'MD patches/MD':>14} {'steady writes/min':>18}")  # fmt: skip
    for count in args.counts:
        bare = bare_seconds(cluster, apps, count)
        writes_before, patches_before = settle(operator), user_object_patches(cluster)
        ferry = ferry_seconds(cluster, custom, count)
        writes_after, patches_after = settle(operator), user_object_patches(cluster)
        time.sleep(args.steady)
        steady = (ferry_writes(operator) - writes_after) * 60 / args.steady
        print(
            f"{count:>4} {bare:>8.2f} {ferry:>8.2f} {ferry / bare:>6.2f} "
            f"{(writes_after - writes_before) / count:>10.1f} "
            f"{(patches_after - patches_before) / count:>14.1f} {steady:>18.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
