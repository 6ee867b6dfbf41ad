"""`python -m e2e.localcluster up|down|status`: the local cluster from the command line."""

import argparse
import sys
import time
from pathlib import Path

from e2e.localcluster.cluster import DEFAULT_RUN_DIR, LocalCluster
from e2e.localcluster.processes import ClusterError


def describe_real_node(cluster: LocalCluster) -> None:
    slot = cluster.slot()
    if slot is None:
        return
    node = cluster.real_node
    print(
        f"real node {node.name} (slot {slot.index}): node IP {node.node_ip}, pods"
        f" {node.pod_cidr}, services {node.service_cidr}; pods reach the host at {node.host_ip};"
        f" its network namespace: nsenter --net={slot.netns} -- ip addr"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument(
        "--no-real-node",
        dest="real_node",
        action="store_false",
        help="simulated (kwok) nodes only: no kubelet, containerd, network namespace or images",
    )
    args = parser.parse_args()
    cluster = LocalCluster(args.run_dir, real_node=args.real_node)
    try:
        if args.command == "up":
            started = time.monotonic()
            cluster.up()
            print(f"local cluster up ({time.monotonic() - started:.1f}s); use it with:")
            print(f"  export KUBECONFIG={cluster.kubeconfig}")
            print(f"  export PATH={cluster.bin_dir}:$PATH")
            describe_real_node(cluster)
        elif args.command == "down":
            cluster.down()
            print("local cluster stopped")
        else:
            print("running" if cluster.running() else "not running")
            for component in cluster.components():
                state = "up" if component.alive() else "DEAD"
                print(f"  {component.name:<24} pid {component.pid:<8} {state}")
            describe_real_node(cluster)
            return 0 if cluster.running() else 1
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
