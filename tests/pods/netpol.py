"""NetworkPolicy enforcement on the real node, for the tests that prove Ferry's policies.

The real node's CNI (the `bridge` plugin) enforces nothing. kube-router's network policy
controller (`kube-router --run-firewall`, built from its Go module by build.sh) does, with
iptables and ipsets, which this kernel has. It runs like kube-proxy: a host process inside
the node's network namespace, so its rules stay there. kube-network-policies was tried first:
its nftables `queue` expression needs CONFIG_NFT_QUEUE, which this kernel lacks
(docs/pods.md quotes its error).

Enforcement is switched on only inside `policy_enforced()`: on this tier the operator runs on
the host, outside any pod, so the product's policy (agent port: the operator's pods only)
rightly refuses it too. When the block ends, kube-router is stopped and every chain and ipset
it made is removed (its own `--cleanup-config` leaves the chains and crashes in v2.1.0).
"""

import contextlib
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

from e2e.localcluster import LocalCluster, netns
from e2e.localcluster.processes import ClusterError, start, stop, wait_until

CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "kube-router-")
BUILT_IN = ("INPUT", "FORWARD", "OUTPUT")


@contextlib.contextmanager
def policy_enforced(cluster: LocalCluster) -> Iterator[None]:
    """kube-router's policy controller on the real node, until the block ends."""
    if not shutil.which("ipset"):
        raise ClusterError("NetworkPolicy enforcement needs ipset: apt-get install -y ipset")
    binary = cluster.bin_dir / "kube-router"
    if not binary.is_file():
        raise ClusterError(f"{binary} is missing: run `make binaries`")
    slot = cluster.slot()
    if slot is None:
        raise ClusterError("the cluster has no real node")
    argv = [
        str(binary), f"--kubeconfig={cluster.kubeconfig}",
        f"--hostname-override={cluster.real_node.name}",
        "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
        f"--service-cluster-ip-range={slot.service_cidr}", "--health-port=0", "--metrics-port=0",
        "--iptables-sync-period=5s",
    ]  # fmt: skip
    agent = start("kube-router", netns.inside(slot.netns, argv), cluster.run_dir / "logs")
    try:
        wait_until(
            "kube-router's policy chains on the real node",
            lambda: any(chain.startswith("KUBE-ROUTER-FORWARD") for chain in _chains(slot.netns)),
            30,
        )
        yield
    finally:
        stop(agent)
        remove_rules(slot.netns)


def _chains(namespace: Path) -> list[str]:
    saved = netns.run("iptables-save", "-t", "filter", netns=namespace)
    return [line[1:].split()[0] for line in saved.splitlines() if line.startswith(":")]


def remove_rules(namespace: Path) -> None:
    """Every iptables chain and ipset of kube-router in the node's namespace, and the jumps
    to them from the built-in chains."""
    saved = netns.run("iptables-save", "-t", "filter", netns=namespace)
    for line in saved.splitlines():
        words = shlex.split(line)
        if words[:1] == ["-A"] and words[1] in BUILT_IN and words[-1].startswith(CHAIN_PREFIXES):
            netns.run("iptables", "-D", *words[1:], netns=namespace)
    ours = [chain for chain in _chains(namespace) if chain.startswith(CHAIN_PREFIXES)]
    for flag in ("-F", "-X"):  # empty them all first: they jump to each other
        for chain in ours:
            netns.run("iptables", flag, chain, netns=namespace)
    sets = netns.run("ipset", "list", "-n", netns=namespace).split()
    for name in sets:
        if name.startswith(IPSET_PREFIXES):
            netns.run("ipset", "destroy", name, netns=namespace)
