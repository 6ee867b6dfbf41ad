"""The real node's lifecycle: its slot's network and cgroups on the host, its configuration
and identities, its three processes inside its network namespace, the drain, and a teardown
that leaves nothing behind. docs/local-cluster.md ("The real node") tells the story."""

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.images import ImagesError, clone_seed, seed_root
from e2e.localcluster import cgroups, mounts, netns, node_config
from e2e.localcluster.access import ClusterAccess
from e2e.localcluster.node_config import NodeLayout
from e2e.localcluster.pki import Pki, issue
from e2e.localcluster.processes import ClusterError, wait_until
from e2e.localcluster.realnode import NODE_NAME
from e2e.localcluster.slots import Slot

# Host tools and the Debian package each comes from (.ci/run installs them).
HOST_TOOLS = {
    "containerd": "containerd",
    "runc": "runc",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "ip": "iproute2",
    "iptables": "iptables",
    "conntrack": "conntrack",
}
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")  # containernetworking-plugins
CNI_CACHE = Path("/var/lib/cni/results")
KUBELET_LOG_LINKS = Path("/var/log/containers")
SHIM_SOCKETS = Path("/run/containerd/s")


CRI_STARTED = b'msg="Start streaming server"'  # containerd 1.6's CRI plugin, last start step
# The longest Unix socket path the kubelet binds below its root dir (pod-resources/<id>):
# sun_path holds 107 bytes and a longer run directory fails with EINVAL deep in its log.
KUBELET_SOCKET_TAIL = len("/pod-resources/1234567890")
SUN_PATH_MAX = 107


def check_host(layout: NodeLayout) -> None:
    """Fail, naming the fix, when the machine cannot run a real node."""
    longest = len(str(layout.kubelet_root.resolve())) + KUBELET_SOCKET_TAIL
    if longest > SUN_PATH_MAX:
        raise ClusterError(
            f"the run directory {layout.run_dir} is too long for the kubelet's sockets"
            f" ({longest} > {SUN_PATH_MAX} bytes): choose a shorter --run-dir"
        )
    missing = {pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)}
    if not all((node_config.CNI_BIN_DIR / p).is_file() for p in CNI_PLUGINS):
        missing.add("containernetworking-plugins")
    if missing:
        raise ClusterError(
            f"the real node needs {', '.join(sorted(missing))}: run .ci/run, or"
            f" `apt-get install -y --no-install-recommends {' '.join(sorted(missing))}`;"
            " or start without a real node (`up --no-real-node`)"
        )
    if os.geteuid() != 0:
        raise ClusterError(
            "the real node needs root (network namespaces, cgroups, mounts):"
            " run as root, or start without a real node (`up --no-real-node`)"
        )


def seed(cache: Path) -> Path:
    """The seed containerd root (the node's images, imported once by `make images`): every
    node's image store starts as a clone of it. Building it takes minutes, so `up` never
    does; a missing or stale seed fails here."""
    try:
        return seed_root(cache)
    except ImagesError as exc:
        raise ClusterError(f"{exc}; or start without a real node (`up --no-real-node`)") from exc


def clone_images(seed: Path, layout: NodeLayout) -> None:
    """Seconds (hard links), not the minutes an import of the images takes."""
    try:
        clone_seed(seed, layout.containerd_root)
    except ImagesError as exc:
        raise ClusterError(str(exc)) from exc


def setup_host(slot: Slot) -> None:
    netns.create(slot)
    cgroups.create(slot.cgroup_root)


def write_config(layout: NodeLayout, slot: Slot, pki: Pki, apiserver: str) -> None:
    """Configuration files, certificates and kubeconfigs of containerd, kubelet, kube-proxy."""
    for directory in layout.dirs():
        directory.mkdir(parents=True, exist_ok=True)
    identities = {
        # the Node authorizer's subject for this node
        "kubelet": issue(pki, "kubelet", f"system:node:{NODE_NAME}", ("system:nodes",)),
        # bound to system:node-proxier by the default RBAC policy
        "kube-proxy": issue(pki, "kube-proxy", "system:kube-proxy"),
    }
    for name, (cert, key) in identities.items():
        config = node_config.kubeconfig(
            apiserver, pki.ca_cert, name, node_config.client_cert_user(cert, key)
        )
        _write_yaml(layout.config_dir / f"{name}.kubeconfig", config)
    serving = issue(
        pki, "kubelet-serving", NODE_NAME, ips=(slot.node_ip, "127.0.0.1"), dns=(NODE_NAME,)
    )
    layout.containerd_config.write_text(node_config.containerd_config(layout, slot))
    conflist = layout.cni_conf_dir / f"10-{slot.cni_network}.conflist"
    conflist.write_text(json.dumps(node_config.cni_conflist(layout, slot), indent=2))
    kubelet = node_config.kubelet_config(layout, slot, pki.ca_cert, serving)
    _write_yaml(layout.config_dir / "kubelet.yaml", kubelet)
    proxy = node_config.kube_proxy_config(slot, layout.config_dir / "kube-proxy.kubeconfig")
    _write_yaml(layout.config_dir / "kube-proxy.yaml", proxy)


def containerd_command(layout: NodeLayout, slot: Slot) -> list[str]:
    return netns.inside(slot.netns, ["containerd", f"--config={layout.containerd_config}"])


def agent_commands(layout: NodeLayout, slot: Slot, bin_dir: Path) -> list[tuple[str, list[str]]]:
    """kubelet and kube-proxy, to start once containerd answers."""
    kubelet = [
        str(bin_dir / "kubelet"),
        *node_config.kubelet_args(
            layout,
            slot,
            layout.config_dir / "kubelet.yaml",
            layout.config_dir / "kubelet.kubeconfig",
        ),
    ]
    proxy = [str(bin_dir / "kube-proxy"), f"--config={layout.config_dir / 'kube-proxy.yaml'}"]
    return [
        ("kubelet", netns.inside(slot.netns, kubelet)),
        ("kube-proxy", netns.inside(slot.netns, proxy)),
    ]


def drain(access: ClusterAccess, layout: NodeLayout, timeout: float = 60) -> None:
    """Cordon the node and delete its pods, then wait until the kubelet has stopped them and
    run CNI DEL (their IP leases are gone). A kubelet that cannot finish in time leaves work
    to `teardown`, which removes the rest by force; so does a failing API (or a node that
    never registered): a drain is a courtesy, the teardown the guarantee."""
    with (
        access.api_client() as api,
        contextlib.suppress(ApiException, urllib3.exceptions.HTTPError, ClusterError),
    ):
        core = client.CoreV1Api(api)
        # Cordoned first, or the pods' controllers would place their replacements here.
        core.patch_node(NODE_NAME, {"spec": {"unschedulable": True}})
        selector = f"spec.nodeName={NODE_NAME}"
        pod: Any
        for pod in core.list_pod_for_all_namespaces(field_selector=selector).items:
            with contextlib.suppress(ApiException):  # gone meanwhile
                core.delete_namespaced_pod(
                    pod.metadata.name, pod.metadata.namespace, grace_period_seconds=1
                )

        def drained() -> bool:
            pods = core.list_pod_for_all_namespaces(field_selector=selector).items
            return not pods and not ip_leases(layout)

        wait_until(f"the pods on {NODE_NAME} to be deleted", drained, timeout)


def ip_leases(layout: NodeLayout) -> list[Path]:
    """host-local IPAM's lease files (named by address), one per pod network not yet torn down."""
    leases = []
    for path in layout.ipam_dir.glob("*/*"):
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(path.name)
            leases.append(path)
    return leases


def teardown(slot: Slot, run_dir: Path) -> None:
    """Remove everything the node has on the machine; the control plane and the node's
    recorded processes are stopped already (or dead). Idempotent, and the same whether the
    node was drained or crashed: what lives in the network namespace dies with it."""
    layout = NodeLayout(run_dir)
    _kill_netns_members(slot)
    _remove_shim_sockets(layout)  # a killed shim leaves its socket
    cgroups.remove(slot.cgroup_root)  # the pods' containers
    mounts.unmount_under([run_dir, slot.dir])  # volumes, root filesystems, namespace pins
    netns.destroy(slot)
    # The image store's hard links would keep an outdated seed's layers on disk, and
    # emptyDir volumes can be large; configuration and logs stay for a post-mortem.
    for directory in (layout.containerd_dir, layout.kubelet_root):
        shutil.rmtree(directory, ignore_errors=True)
    _remove_cni_cache(slot)
    _remove_log_links(run_dir)


def _kill_netns_members(slot: Slot, timeout: float = 10) -> None:
    """Whatever still runs in the namespace: containerd shims, or a crashed node's agents."""
    deadline = time.monotonic() + timeout
    while pids := netns.members(slot.netns):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise ClusterError(f"processes {pids} in {slot.netns} do not die")
        time.sleep(0.1)


def _remove_shim_sockets(layout: NodeLayout) -> None:
    """Each task's `address` file in containerd's state names its shim's socket (in
    /run/containerd/s, a path no option moves)."""
    for address in layout.containerd_state.glob("io.containerd.runtime.v2.task/*/*/address"):
        with contextlib.suppress(OSError):
            socket = Path(address.read_text().strip().removeprefix("unix://"))
            if socket.parent == SHIM_SOCKETS:
                socket.unlink(missing_ok=True)


def _remove_cni_cache(slot: Slot) -> None:
    """libcni's cached results of sandboxes that never got CNI DEL: files named
    `<network>-<sandbox id>-<interface>`, for our network and containerd's loopback one."""
    for cached in CNI_CACHE.glob(f"{slot.cni_network}-*-eth0"):
        sandbox = cached.name.removeprefix(f"{slot.cni_network}-").removesuffix("-eth0")
        (CNI_CACHE / f"cni-loopback-{sandbox}-lo").unlink(missing_ok=True)
        cached.unlink(missing_ok=True)


def _remove_log_links(run_dir: Path) -> None:
    """The kubelet's symlinks into this run directory's pod logs, left by pods not drained."""
    for link in KUBELET_LOG_LINKS.glob("*.log"):
        with contextlib.suppress(OSError):
            if link.is_symlink() and run_dir in Path(os.readlink(link)).parents:
                link.unlink()


def _write_yaml(path: Path, content: object) -> None:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
