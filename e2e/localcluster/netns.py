"""The real node's network: a network namespace of its own, joined to the host by a veth pair.

Inside the namespace live the CNI bridge, the pods' veths, and every iptables rule the
kubelet, kube-proxy and the CNI plugins write; deleting the namespace deletes them all, and two
clusters' kube-proxies never see each other's chains. The host only gets the veth's end and
routes for the pod and service ranges through it.

The namespace is pinned by a bind mount in the slot directory (`unshare --net=FILE`) rather
than with `ip netns add`, which would turn /run/netns into a mount point left on the machine.
Enter it with `nsenter --net=<slot dir>/netns -- CMD`.
"""

import contextlib
import os
import subprocess
from pathlib import Path

from e2e.localcluster.mounts import mount_points
from e2e.localcluster.processes import ClusterError
from e2e.localcluster.slots import Slot

NODE_VETH = "eth0"  # the node's end, inside the namespace


def inside(netns: Path, argv: list[str]) -> list[str]:
    """`argv` as a command run inside the namespace. nsenter --net joins the network
    namespace only: `ip netns exec` would also unshare the mount namespace, and containerd
    would then not see the kubelet's volume mounts (secrets, service-account tokens).
    nsenter execs the command, so the pid it starts with is the command's."""
    return ["nsenter", f"--net={netns}", "--", *argv]


def run(*argv: str, netns: Path | None = None) -> str:
    """Run a command (inside `netns` if given); a failure names the command and its stderr."""
    full = inside(netns, list(argv)) if netns else list(argv)
    result = subprocess.run(full, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise ClusterError(f"`{' '.join(full)}` failed: {result.stderr.strip()}")
    return result.stdout


def create(slot: Slot) -> None:
    """The namespace, the veth pair and both sides' addresses and routes."""
    slot.netns.touch()
    run("unshare", f"--net={slot.netns}", "true")
    ns = slot.netns
    run(
        "ip",
        "link",
        "add",
        slot.host_veth,
        "type",
        "veth",
        "peer",
        "name",
        NODE_VETH,
        "netns",
        str(ns),
    )
    run("ip", "addr", "add", f"{slot.host_ip}/{slot.veth_prefix}", "dev", slot.host_veth)
    run("ip", "link", "set", slot.host_veth, "up")
    for cidr in (slot.pod_cidr, slot.service_cidr):
        try:
            run("ip", "route", "add", cidr, "via", slot.node_ip, "dev", slot.host_veth)
        except ClusterError as exc:
            raise ClusterError(
                f"{exc}: the host already routes {cidr}; local real nodes use 10.85.0.0/16,"
                " 10.86.0.0/16 and 10.96.0.0/11 (see docs/local-cluster.md)"
            ) from exc
    # Per-namespace settings: forwarding between the veth and the bridge, and bridged pod
    # traffic through iptables (Service DNAT, masquerading) as kube-proxy expects.
    run(
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
        "net.bridge.bridge-nf-call-iptables=1",
        netns=ns,
    )
    run("ip", "link", "set", "lo", "up", netns=ns)
    run("ip", "addr", "add", f"{slot.node_ip}/{slot.veth_prefix}", "dev", NODE_VETH, netns=ns)
    run("ip", "link", "set", NODE_VETH, "up", netns=ns)
    run("ip", "route", "add", "default", "via", slot.host_ip, netns=ns)


def destroy(slot: Slot) -> None:
    """Remove the namespace and the host's end of the veth; idempotent.

    The caller must have ended every process inside first, or the namespace outlives its pin.
    """
    if slot.netns in mount_points():
        run("umount", str(slot.netns))
    slot.netns.unlink(missing_ok=True)
    # Deleting one end deletes the pair, and the routes through it go with the device. The
    # kernel may be deleting it already: the namespace (and its end) goes once unpinned.
    device = Path(f"/sys/class/net/{slot.host_veth}")
    try:
        if device.exists():
            run("ip", "link", "del", slot.host_veth)
    except ClusterError:
        if device.exists():
            raise


def members(netns: Path) -> list[int]:
    """Pids of the processes inside the namespace (containerd, kubelet, kube-proxy, shims)."""
    try:
        target = os.stat(netns)
    except FileNotFoundError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ns = os.stat(entry / "ns" / "net")
            if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
                pids.append(int(entry.name))
    return pids
