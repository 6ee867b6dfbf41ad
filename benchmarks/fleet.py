"""What the operator benchmarks share: a private control plane with the operator running as
the chart's ServiceAccount, many objects created at once, when each became ready, and the
operator's own figures (its metrics, its memory).

The cluster has kwok nodes only (no real node: nothing here runs a container), plus as many
extra simulated nodes as the pods need (a node takes 110 pods, as a kubelet's default does).
"""

import concurrent.futures
import contextlib
import functools
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from e2e.demo_operator import (
    ACCESS_KINDS,
    OperatorProcess,
    install_access,
    render_chart,
    start_operator,
)
from e2e.localcluster import LocalCluster

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
GROUP, VERSION, PLURAL = "serving.ferry.dev", "v1alpha1", "modeldeployments"
PODS_PER_NODE = 110
CREATE_WORKERS = 8  # concurrent create requests: "at once", within the client's means


def model_deployment(name: str, version: str = "1.0.0", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "mlp", "version": version, "uri": "s3://m/mlp.mar", "sha256": SHA},
            "runtime": {"image": "ghcr.io/ferry/torchserve:0.12.0-cpu"},
            "resources": {"cpu": "100m", "memory": "256Mi"},
            "replicas": 1,
            **spec,
        },
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the series of `name` in a Prometheus text page whose labels include `labels`."""
    total = 0.0
    for found, value in re.findall(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.MULTILINE):
        if all(f'{key}="{wanted}"' in found for key, wanted in labels.items()):
            total += float(value)
    return total


@dataclass
class World:
    cluster: LocalCluster
    operator: OperatorProcess
    api: client.ApiClient
    work: Path
    launch: Callable[[], OperatorProcess]

    def restart_operator(self) -> None:
        """A fresh operator process (a clean memory baseline), same account and settings."""
        self.operator.stop()
        self.operator = self.launch()

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def operator_metric(self, name: str, **labels: str) -> float:
        return metric(self.operator.metrics(), name, **labels)

    def apiserver_metric(self, name: str, **labels: str) -> float:
        return metric(self.cluster.kubectl("get", "--raw", "/metrics").stdout, name, **labels)

    def operator_rss(self) -> float:
        return rss_mib(self.operator.process.pid)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each control-plane process and of the operator."""
        pids = {c.name: c.pid for c in self.cluster.components()}
        return {
            name: cpu_seconds(pid)
            for name, pid in {**pids, "operator": self.operator.process.pid}.items()
        }

    def writes(self) -> float:
        return self.operator_metric("ferry_api_writes_total")

    def settle(self, quiet: float = 5, timeout: float = 900) -> float:
        """Wait until the operator wrote nothing for `quiet` seconds; its write count."""
        deadline = time.monotonic() + timeout
        count = self.writes()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            count, previous = self.writes(), count
            if count == previous:
                return count
        raise TimeoutError(f"the operator kept writing for {timeout:.0f}s")

    def namespace(self, name: str) -> str:
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def delete_namespace(self, name: str, timeout: float = 600) -> None:
        self.core.delete_namespace(name)
        deadline = time.monotonic() + timeout
        while any(n.metadata.name == name for n in self.core.list_namespace().items):
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespace {name} still there after {timeout:.0f}s")
            time.sleep(1)


@contextlib.contextmanager
def operator_world(pods: int = 0, **settings: str) -> Iterator[World]:
    """A private cluster with room for `pods` more pods, the chart's RBAC, and the operator
    (default settings unless `settings` names FERRY_* values without the prefix)."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as work_dir:
        work = Path(work_dir)
        cluster = LocalCluster(run_dir=work / "cluster", real_node=False)
        cluster.up()
        try:
            for i in range(-(-pods // PODS_PER_NODE)):
                cluster.add_node(f"bench-node-{i}")
            cluster.kubectl("create", "namespace", "ferry-system")
            objects = render_chart("ferry", "ferry-system")
            install_access(cluster, [o for o in objects if o["kind"] in ACCESS_KINDS])
            kubeconfig = cluster.service_account_kubeconfig(
                "ferry-system", "ferry", work / "operator.kubeconfig"
            )
            runs = 0

            def launch() -> OperatorProcess:
                nonlocal runs
                runs += 1
                log = work / ("operator.log" if runs == 1 else f"operator-{runs}.log")
                return start_operator(kubeconfig, "ferry-system", "ferry", log, **settings)

            with cluster.api_client() as api:
                world = World(cluster, launch(), api, work, launch)
                try:
                    yield world
                finally:
                    world.operator.stop()
        finally:
            cluster.down()


def name_of(body: dict[str, Any]) -> str:
    return str(body["metadata"]["name"])


def create_all(
    create: Callable[[dict[str, Any]], Any],
    bodies: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str] = name_of,
) -> dict[str, float]:
    """Create every body with a few concurrent requests; key (the name) -> when its create
    returned."""
    created: dict[str, float] = {}

    def one(body: dict[str, Any]) -> None:
        create(body)
        created[key(body)] = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(CREATE_WORKERS) as pool:
        for done in [pool.submit(one, body) for body in bodies]:
            done.result()
    return created


@dataclass
class ReadyTimes:
    """When each object was first seen ready, from a watch (no polling). `list_call` is a
    list function of the client bound to its namespace (keyword arguments only)."""

    list_call: Callable[..., Any]
    is_ready: Callable[[dict[str, Any]], bool]
    expected: int
    seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.seen) < self.expected:
            stream = watch.Watch().stream(self.list_call, timeout_seconds=30)
            with contextlib.suppress(Exception):  # a dropped watch is simply reopened
                for event in stream:
                    obj = event["raw_object"]
                    name = obj["metadata"]["name"]
                    if name not in self.seen and self.is_ready(obj):
                        self.seen[name] = time.monotonic()
                    if len(self.seen) >= self.expected or self._stop.is_set():
                        return

    def wait(self, timeout: float = 1800) -> None:
        self._thread.join(timeout)
        if len(self.seen) < self.expected:
            self._stop.set()
            raise TimeoutError(f"{len(self.seen)}/{self.expected} ready after {timeout:.0f}s")


def model_deployments_in(world: World, namespace: str) -> Callable[..., Any]:
    return functools.partial(world.custom.list_namespaced_custom_object, GROUP, VERSION,
                             namespace, PLURAL)  # fmt: skip


def deployments_in(world: World, namespace: str) -> Callable[..., Any]:
    return functools.partial(world.apps.list_namespaced_deployment, namespace)


def md_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def deployment_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    available = any(
        c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions") or []
    )
    return available and status.get("readyReplicas", 0) == obj["spec"]["replicas"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
