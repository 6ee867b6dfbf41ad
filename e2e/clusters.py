"""The cluster a test session runs against, chosen by FERRY_CLUSTER:

- `local` (default): the real control plane built from Go modules, started for the session,
  with kwok-simulated GPU nodes and one real kubelet node (`ClusterAccess.real_node`);
- `kind`: a kind cluster (needs Docker) with the same kwok-simulated GPU nodes;
- `existing`: whatever KUBECONFIG points at; nothing is created or torn down.
"""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from e2e.localcluster import ClusterAccess, ClusterError, LocalCluster
from e2e.localcluster.cluster import default_cache
from e2e.localcluster.kwok_config import write_kwok_config
from e2e.localcluster.nodes import DEFAULT_NODES, KWOK_NODE_ANNOTATION
from e2e.localcluster.processes import start, stop

KIND_CONFIG = Path(__file__).parent / "kind-config.yaml"


@contextlib.contextmanager
def session_cluster(work_dir: Path, *, real_node: bool = True) -> Iterator[ClusterAccess]:
    """`real_node`: whether the session's tests need one (the local cluster then starts it)."""
    kind = os.environ.get("FERRY_CLUSTER", "local")
    if kind == "local":
        cluster = LocalCluster(run_dir=work_dir / "localcluster", real_node=real_node)
        cluster.up()
        try:
            yield cluster
        finally:
            cluster.down()
    elif kind == "kind":
        with _kind_cluster(work_dir) as access:
            yield access
    elif kind == "existing":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            raise ClusterError("FERRY_CLUSTER=existing needs KUBECONFIG to point at the cluster")
        yield ClusterAccess(Path(kubeconfig), _tool_dir("kubectl"))
    else:
        raise ClusterError(f"FERRY_CLUSTER={kind!r}: expected local, kind or existing")


def _tool_dir(tool: str) -> Path:
    cached = default_cache() / "bin"
    if (cached / tool).is_file():
        return cached
    found = shutil.which(tool)
    if not found:
        raise ClusterError(f"{tool} not found: run `make binaries` or put it on PATH")
    return Path(found).parent


@contextlib.contextmanager
def _kind_cluster(work_dir: Path) -> Iterator[ClusterAccess]:
    """kind for the real node, kwok (managing only annotated nodes) for the GPU nodes."""
    if not shutil.which("docker"):
        raise ClusterError("FERRY_CLUSTER=kind needs a Docker engine")
    bin_dir = _tool_dir("kind")
    kubeconfig = work_dir / "kind.kubeconfig"
    name = "ferry-e2e"
    kind = [str(bin_dir / "kind")]
    subprocess.run(
        [
            *kind,
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            str(KIND_CONFIG),
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "120s",
        ],
        check=True,
    )
    kwok_config = write_kwok_config(default_cache() / "kwok-stages", work_dir / "kwok.yaml")
    kwok = start(
        "kwok",
        [
            str(bin_dir / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={kwok_config}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-lease-duration-seconds=40",
        ],
        work_dir,
    )
    try:
        access = ClusterAccess(kubeconfig, bin_dir)
        for node_name, gpus in DEFAULT_NODES:
            if gpus:  # the kind node itself is the CPU node
                access.add_node(node_name, gpus)
        yield access
    finally:
        stop(kwok)
        subprocess.run([*kind, "delete", "cluster", "--name", name], check=False)
