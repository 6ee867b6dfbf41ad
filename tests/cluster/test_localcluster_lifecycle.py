"""Up, down, up again: same result, nothing left behind.

World: a second, private local control plane started by the test itself.
"""

import pytest
from kubernetes import client

from e2e.localcluster import LocalCluster
from e2e.localcluster.processes import port_in_use

pytestmark = pytest.mark.cluster


def _gpu_allocatable(cluster: LocalCluster) -> dict[str, str]:
    with cluster.api_client() as api:
        nodes = client.CoreV1Api(api).list_node().items
    return {n.metadata.name: (n.status.allocatable or {}).get("nvidia.com/gpu", "0") for n in nodes}


def test_up_down_up_again_leaves_nothing_behind(tmp_path):
    cluster = LocalCluster(run_dir=tmp_path / "private")
    try:
        for _ in range(2):
            cluster.up()
            cluster.up()  # idempotent: reuses the running cluster
            components = cluster.components()
            ports = cluster.ports()
            assert {c.name for c in components} == {
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kwok",
            }
            assert _gpu_allocatable(cluster) == {
                "gpu-node-0": "8",
                "gpu-node-1": "8",
                "cpu-node-0": "0",
            }

            cluster.down()
            cluster.down()  # idempotent: nothing to stop
            assert not any(c.alive() for c in components)
            assert not any(port_in_use(port) for port in ports.values())
            assert not cluster.running()
    finally:
        cluster.down()
