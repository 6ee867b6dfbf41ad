"""Up, down, up again: same result, nothing left behind, the real node included; and two
clusters with real nodes side by side.

World: private local control planes started by the tests themselves, each with its real
kubelet node (containerd, CNI bridge, kube-proxy) in a network namespace of its own.
"""

import ipaddress
import json
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.images import PAUSE_IMAGE
from e2e.localcluster import LocalCluster, cgroups, machine, mounts, ownership
from e2e.localcluster.node import CNI_CACHE
from e2e.localcluster.processes import port_in_use, wait_until
from e2e.localcluster.slots import Slot

pytestmark = pytest.mark.cluster

CONTROL_PLANE = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
REAL_NODE = {"containerd", "kubelet", "kube-proxy"}


def _nodes(cluster: LocalCluster) -> dict[str, tuple[str, str]]:
    """Node name -> (Ready status, nvidia.com/gpu allocatable)."""
    with cluster.api_client() as api:
        nodes = client.CoreV1Api(api).list_node().items
    return {
        n.metadata.name: (
            next(c.status for c in n.status.conditions if c.type == "Ready"),
            (n.status.allocatable or {}).get("nvidia.com/gpu", "0"),
        )
        for n in nodes
    }


def _tunables() -> dict[str, str]:
    return {t: (Path("/proc/sys") / t).read_text().strip() for t in machine.KUBELET_TUNABLES}


def _command_lines_naming(*paths: Path) -> list[str]:
    """Command lines of live processes that mention any of `paths` (shims name their
    containerd's socket in the slot directory; every component names the run directory)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").replace("\0", " ")
        except OSError:
            continue
        if any(str(p) in argv for p in paths):
            found.append(argv)
    return found


def assert_nothing_left(cluster: LocalCluster, slot: Slot, components: list[Any]) -> None:
    assert not cluster.running()
    assert not any(c.alive() for c in components)
    assert _command_lines_naming(cluster.run_dir, slot.dir) == []
    assert not any(port_in_use(port) for port in cluster.ports().values())
    assert not slot.netns.exists(), "network namespace pin"
    assert mounts.under([cluster.run_dir, slot.dir]) == []
    assert not Path(f"/sys/class/net/{slot.host_veth}").exists(), "host veth"
    assert not Path(f"/sys/class/net/{slot.bridge}").exists(), "bridge"
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    assert slot.pod_cidr not in routes
    assert slot.service_cidr not in routes
    assert slot.host_ip not in routes
    cgroup_roots = [h / slot.cgroup_root.lstrip("/") for h in cgroups.hierarchies()]
    assert [root for root in cgroup_roots if root.exists()] == []
    assert list(CNI_CACHE.glob(f"{slot.cni_network}-*")) == []
    assert ownership.registry().owner(slot.index) is None, "slot record"


def test_up_down_up_again_leaves_nothing_behind(tmp_path: Path) -> None:
    registry = ownership.registry()
    machine_was_ours = not registry.owners()  # no other real node (the session's) running
    tunables_before = _tunables()
    cluster = LocalCluster(run_dir=tmp_path / "private")
    try:
        for _ in range(2):
            cluster.up()
            cluster.up()  # idempotent: reuses the running cluster
            components = cluster.components()
            slot = cluster.slot()
            assert slot is not None
            assert {c.name for c in components} == CONTROL_PLANE | REAL_NODE
            assert _nodes(cluster) == {
                "gpu-node-0": ("True", "8"),
                "gpu-node-1": ("True", "8"),
                "cpu-node-0": ("True", "0"),
                "real-node-0": ("True", "0"),
            }
            shown = cluster.kubectl("get", "nodes", "-o", "wide").stdout
            assert any(
                row.split()[:2] == ["real-node-0", "Ready"] and cluster.real_node.node_ip in row
                for row in shown.splitlines()
            ), shown

            cluster.down()
            cluster.down()  # idempotent: nothing to stop
            assert_nothing_left(cluster, slot, components)
        if machine_was_ours and not registry.owners():
            assert _tunables() == tunables_before  # the kubelet changes them; down restores
    finally:
        cluster.down()


def test_without_a_real_node_only_the_simulated_nodes_run(tmp_path: Path) -> None:
    cluster = LocalCluster(run_dir=tmp_path / "kwok-only", real_node=False)
    try:
        cluster.up()
        assert {c.name for c in cluster.components()} == CONTROL_PLANE
        assert set(_nodes(cluster)) == {"gpu-node-0", "gpu-node-1", "cpu-node-0"}
        assert cluster.slot() is None
        assert cluster.apiserver_host == "127.0.0.1"
    finally:
        cluster.down()
    assert not cluster.running()


def _run_pause_pod(cluster: LocalCluster) -> str:
    """A pod on the real node running the pause image; returns its IP once Running."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pause", "namespace": "default"},
        "spec": {
            **cluster.real_node.placement(),
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}],
        },
    }
    cluster.apply_manifest(pod)
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)

        def running() -> bool:
            status = core.read_namespaced_pod("pause", "default").status
            return status.phase == "Running" and bool(status.pod_ip)

        wait_until("the pause pod to run on the real node", running, 60)
        return str(core.read_namespaced_pod("pause", "default").status.pod_ip)


def _version_through_service(cluster: LocalCluster, slot: Slot) -> str:
    context = ssl.create_default_context(cafile=str(cluster.run_dir / "pki" / "ca.crt"))
    answers: list[str] = []

    def answered() -> bool:  # kube-proxy syncs its rules about a second after start
        try:
            url = f"https://{slot.first_service_ip}/version"
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                answers.append(json.load(response)["gitVersion"])
        except OSError:
            return False
        return True

    wait_until(f"the kubernetes Service at {slot.first_service_ip}", answered, 15)
    return answers[0]


def test_two_clusters_with_real_nodes_run_side_by_side(tmp_path: Path) -> None:
    first, second = LocalCluster(tmp_path / "first"), LocalCluster(tmp_path / "second")
    slots: list[Slot] = []
    components: list[list[Any]] = []
    try:
        for cluster in (first, second):
            cluster.up()
            slot = cluster.slot()
            assert slot is not None
            slots.append(slot)
            components.append(cluster.components())
        assert slots[0].index != slots[1].index
        for cluster in (first, second):
            assert _nodes(cluster)["real-node-0"] == ("True", "0")
            pod_ip = _run_pause_pod(cluster)
            assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(cluster.real_node.pod_cidr)
        # Each kube-proxy keeps its own rules: from the host, each cluster's `kubernetes`
        # Service (its slot's first service IP) reaches that cluster's apiserver.
        for cluster, slot in zip((first, second), slots, strict=True):
            assert _version_through_service(cluster, slot) == "v1.35.4"
    finally:
        for cluster in (first, second):
            cluster.down()
    for cluster, slot, started in zip((first, second), slots, components, strict=True):
        assert_nothing_left(cluster, slot, started)
