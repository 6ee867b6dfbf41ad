"""The real node: what Ferry costs on real pods, and what the node costs the machine.

- Time until N ModelDeployments are Ready against the same N bare Deployments + Services
  (+ ConfigMaps) until Available: Ferry's own builders render them, so the pods are the very
  pods the operator would make (same image, same `ferry-fetch` of the same archive from the
  same host server, same readiness probe on the agent's /readyz, golden request included),
  minus the operator. Same cluster, same run, rounds interleaved (bare first in odd rounds,
  Ferry first in even ones), each namespace deleted and its pods gone before the next.
- How long a model pod takes to go once deleted (SIGTERM to gone from the API).
- RSS of containerd, kubelet and kube-proxy after `--idle` seconds, and of one serving pod
  (its processes, and its memory cgroup).
- The warm cost the real node adds to `make test`/`make demo`: `make images` when the seed is
  up to date, and a cluster start with the node against one without. `--cold DIR` also times
  `make images` from nothing into the empty cache DIR (downloads ~3 GB of wheels; needs
  ~25 GB of free disk; DIR/bin is linked to the binaries of $FERRY_CACHE).

World: a private local cluster with its real node, the operator as a host process with the
chart's ServiceAccount (as the tests run it), archives packaged by `ferry package` and served
from the host address pods reach.

Run: .venv/bin/python -m benchmarks.realnode [--counts 1 3] [--rounds 5] [--idle 30]
     [--cold /path/to/empty/cache]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from benchmarks.localcluster import rss_mib
from benchmarks.operator_apply import unowned_children
from e2e.demo_operator import ACCESS_KINDS, install_access, render_chart, start_operator
from e2e.images import SERVING_IMAGE, default_cache
from e2e.localcluster import LocalCluster
from e2e.localcluster.realnode import RealNode
from ferry.api.parse import DefaultImages
from tests.pods.artifact_server import ArtifactServer
from tests.pods.artifacts import PackagedModel, PodModels, build_models
from tests.pods.serving import model_deployment

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
NODE_DAEMONS = ("containerd", "kubelet", "kube-proxy")
COLD_FREE_GIB = 25
IMAGES = DefaultImages(cpu=SERVING_IMAGE, gpu=SERVING_IMAGE)  # as the operator is configured


def wait(what: str, probe: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


class Bench:
    def __init__(self, cluster: LocalCluster, model: PackagedModel, api: client.ApiClient) -> None:
        self.cluster = cluster
        self.node: RealNode = cluster.real_node
        self.model = model
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def documents(self, count: int) -> list[dict[str, Any]]:
        return [model_deployment(self.model, self.node, f"m{i}") for i in range(count)]

    @contextmanager
    def namespace(self, kind: str) -> Iterator[str]:
        name = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=RESTRICTED))
        )
        try:
            yield name
        finally:
            self.core.delete_namespace(name)
            wait(f"namespace {name} gone", lambda: self._gone(name), 180)

    def _gone(self, namespace: str) -> bool:
        return not any(ns.metadata.name == namespace for ns in self.core.list_namespace().items)

    def bare_seconds(self, count: int) -> float:
        with self.namespace("bare") as ns:
            docs = [o for md in self.documents(count) for o in unowned_children(md, ns, IMAGES)]
            started = time.monotonic()
            self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

            def available() -> bool:
                items = self.apps.list_namespaced_deployment(ns).items
                return len(items) == count and all(
                    (d.status.ready_replicas or 0) == d.spec.replicas
                    and any(
                        c.type == "Available" and c.status == "True"
                        for c in d.status.conditions or []
                    )
                    for d in items
                )

            wait(f"{count} bare Deployments Available", available)
            return time.monotonic() - started

    def ferry_seconds(
        self, count: int, then: Callable[[str], None] | None = None
    ) -> tuple[float, float]:
        """Seconds until every ModelDeployment is Ready, and until every one of their pods
        was: the difference is what the operator adds (seeing the pods, writing status)."""
        with self.namespace("ferry") as ns:
            docs = self.documents(count)
            started = time.monotonic()
            self.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
            pods_ready: list[float] = []

            def ready() -> bool:
                if not pods_ready and self._pods_ready(ns, count):
                    pods_ready.append(time.monotonic() - started)
                items = self.custom.list_namespaced_custom_object(
                    "serving.ferry.dev", "v1alpha1", ns, "modeldeployments"
                )["items"]
                return len(items) == count and all(
                    any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in (md.get("status") or {}).get("conditions", [])
                    )
                    for md in items
                )

            wait(f"{count} ModelDeployments Ready", ready)
            seconds = time.monotonic() - started
            if then is not None:
                then(ns)
            return seconds, pods_ready[0] if pods_ready else seconds

    def _pods_ready(self, namespace: str, count: int) -> bool:
        pods = self.core.list_namespaced_pod(namespace).items
        return len(pods) == count and all(
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            for p in pods
        )

    def pod_report(self, namespace: str) -> None:
        """RSS of one serving pod, then how long its deletion takes."""
        pod = self.core.list_namespaced_pod(namespace).items[0]
        processes = pod_processes(pod.metadata.uid)
        print(f"serving pod {pod.metadata.name}, Ready, idle:")
        total = 0.0
        for pid, name in processes:
            rss = rss_mib(pid)
            total += rss
            print(f"  {name:<34} {rss:7.1f} MiB")
        print(f"  {'processes in all':<34} {total:7.1f} MiB")
        cgroup = pod_memory_cgroup(pod.metadata.uid)
        if cgroup is not None:
            stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
            print(f"  {'memory cgroup total_rss':<34} {int(stat['total_rss']) / 2**20:7.1f} MiB")
            usage = int((cgroup / "memory.usage_in_bytes").read_text()) / 2**20
            print(f"  {'memory cgroup usage (with cache)':<34} {usage:7.1f} MiB")
        started = time.monotonic()
        self.core.delete_namespaced_pod(pod.metadata.name, namespace)

        def deleted() -> bool:
            names = [p.metadata.name for p in self.core.list_namespaced_pod(namespace).items]
            return pod.metadata.name not in names

        wait("the deleted pod gone", deleted, 120)
        print(f"pod deletion, SIGTERM to gone from the API: {time.monotonic() - started:.1f}s")


def pod_processes(uid: str) -> list[tuple[int, str]]:
    """(pid, short command line) of every process in the pod's cgroups."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"pod{uid}" not in (entry / "cgroup").read_text():
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [Path(argv[0].decode()).name, *(a.decode() for a in argv[1:3])]
        found.append((int(entry.name), " ".join(words)[:34]))
    return sorted(found)


def pod_memory_cgroup(uid: str) -> Path | None:
    hierarchy = Path("/sys/fs/cgroup/memory")
    return next(hierarchy.rglob(f"pod{uid}"), None) if hierarchy.is_dir() else None


def node_daemon_rss(cluster: LocalCluster) -> None:
    total = 0.0
    for component in cluster.components():
        if component.name in NODE_DAEMONS:
            rss = rss_mib(component.pid)
            total += rss
            print(f"  {component.name:<24} {rss:7.1f} MiB")
    print(f"  {'total':<24} {total:7.1f} MiB")


def start_costs(work: Path) -> None:
    """Warm: `make images` with nothing to do; a cluster start with and without the node."""
    images = timed([sys.executable, "-m", "e2e.images", "build"])
    print(f"make images, seed up to date: {images:.1f}s")
    for real_node in (False, True):
        cluster = LocalCluster(run_dir=work / f"start-{real_node}", real_node=real_node)
        started = time.monotonic()
        cluster.up()
        up = time.monotonic() - started
        started = time.monotonic()
        cluster.down()
        down = time.monotonic() - started
        label = "with the real node" if real_node else "kwok nodes only  "
        print(f"cluster {label}: up {up:.1f}s, down {down:.1f}s")


def cold_images(cache: Path) -> None:
    free = shutil.disk_usage(cache.parent).free / 2**30
    if free < COLD_FREE_GIB or (cache.exists() and any(cache.iterdir())):
        print(f"--cold {cache}: needs an empty directory and {COLD_FREE_GIB} GiB free ({free:.0f})")
        return
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "bin").symlink_to(default_cache() / "bin")
    env = {**os.environ, "FERRY_CACHE": str(cache)}
    seconds = timed([sys.executable, "-m", "e2e.images", "build"], env)
    print(f"make images from an empty cache: {seconds / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before RSS")
    parser.add_argument("--cold", type=Path, help="an empty cache directory for a cold build")
    args = parser.parse_args()
    if args.cold:
        cold_images(args.cold)
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        work = Path(tmp)
        start_costs(work)
        cluster = LocalCluster(run_dir=work / "cluster")
        cluster.up()
        try:
            time.sleep(args.idle)
            print(f"real node daemons, idle RSS after {args.idle:.0f}s:")
            node_daemon_rss(cluster)
            run(cluster, work, args)
        finally:
            cluster.down()


@contextmanager
def operator_world(
    cluster: LocalCluster, work: Path, **settings: str
) -> Iterator[tuple[PodModels, client.ApiClient]]:
    """The operator running with the chart's RBAC (as the tests run it; extra FERRY_*
    `settings`) and every model version packaged and served from the host: what a
    benchmark on real pods needs."""
    cluster.kubectl("create", "namespace", "ferry-system")
    objects = render_chart("ferry", "ferry-system")
    install_access(cluster, [o for o in objects if o["kind"] in ACCESS_KINDS])
    kubeconfig = cluster.service_account_kubeconfig(
        "ferry-system", "ferry", work / "operator.kubeconfig"
    )
    (work / "artifacts").mkdir()
    with ArtifactServer(cluster.real_node.host_ip, work / "artifacts") as server:
        models = build_models(server.directory, server.url)
        operator = start_operator(
            kubeconfig, "ferry-system", "ferry", work / "operator.log",
            SERVING_IMAGE_CPU=SERVING_IMAGE, **settings,
        )  # fmt: skip
        try:
            with cluster.api_client() as api:
                yield models, api
        finally:
            operator.stop()


def run(cluster: LocalCluster, work: Path, args: argparse.Namespace) -> None:
    with operator_world(cluster, work) as (models, api):
        compare(Bench(cluster, models.v1, api), args)


def compare(bench: Bench, args: argparse.Namespace) -> None:
    bench.ferry_seconds(1, bench.pod_report)  # also warms the page cache for both sides
    print(
        "Ready after apply, seconds (model pods turn Ready at a probe, every 5 s, so single"
        " runs move in 5 s steps; medians of the rounds compare):"
    )
    print(f"{'N':>3} {'round':>5} {'bare':>7} {'ferry':>7} {'pods':>7} {'lag':>5}")
    for count in args.counts:
        bares, ferries, lags = [], [], []
        for round_ in range(1, args.rounds + 1):
            if round_ % 2:
                bare, (ferry, pods) = bench.bare_seconds(count), bench.ferry_seconds(count)
            else:
                (ferry, pods), bare = bench.ferry_seconds(count), bench.bare_seconds(count)
            bares.append(bare)
            ferries.append(ferry)
            lags.append(ferry - pods)
            print(
                f"{count:>3} {round_:>5} {bare:>7.1f} {ferry:>7.1f} {pods:>7.1f}"
                f" {ferry - pods:>5.1f}"
            )
        bare, ferry = statistics.median(bares), statistics.median(ferries)
        print(
            f"{count:>3} {'med':>5} {bare:>7.1f} {ferry:>7.1f} {'':>7}"
            f" {statistics.median(lags):>5.1f}   ratio of medians {ferry / bare:.2f}"
        )
    print("pods: until the ModelDeployments' pods were all Ready; lag: ferry - pods")


if __name__ == "__main__":
    main()
