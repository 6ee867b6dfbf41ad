"""The real node's configuration, rendered from its slot and run directory."""

import tomllib
from pathlib import Path

import pytest

from e2e.localcluster import node, node_config
from e2e.localcluster.node_config import NodeLayout
from e2e.localcluster.processes import ClusterError
from e2e.localcluster.realnode import RealNode
from e2e.localcluster.slots import Slot

pytestmark = pytest.mark.unit

RUN_DIR = Path("/work/run")
SLOT = Slot(3, Path("/run/ferry/slots/3"))
LAYOUT = NodeLayout(RUN_DIR)


def under(path: str | Path, directory: Path) -> bool:
    return directory in Path(path).parents


def test_containerd_keeps_its_state_under_the_run_directory_and_its_socket_in_the_slot() -> None:
    config = tomllib.loads(node_config.containerd_config(LAYOUT, SLOT))
    assert under(config["root"], RUN_DIR)
    assert under(config["state"], RUN_DIR)
    assert config["grpc"]["address"] == str(SLOT.containerd_socket)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/ferry/pause:3.10"
    assert cri["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE on this machine kind
    assert cri["netns_mounts_under_state_dir"] is True
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False
    assert under(runc["Root"], RUN_DIR)
    assert cri["cni"]["conf_dir"] == str(LAYOUT.cni_conf_dir)


def test_the_cni_network_is_named_and_addressed_after_the_slot() -> None:
    conflist = node_config.cni_conflist(LAYOUT, SLOT)
    assert conflist["name"] == "ferry-3"
    bridge = conflist["plugins"][0]
    assert bridge["bridge"] == "ferry3br"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.85.3.0/24", "gateway": "10.85.3.1"}]]
    assert under(bridge["ipam"]["dataDir"], RUN_DIR)


def test_the_kubelet_has_its_own_cgroup_root_and_never_collects_imported_images() -> None:
    serving = (RUN_DIR / "pki/kubelet-serving.crt", RUN_DIR / "pki/kubelet-serving.key")
    config = node_config.kubelet_config(LAYOUT, SLOT, RUN_DIR / "pki/ca.crt", serving)
    assert config["cgroupRoot"] == "/ferry-3"
    assert (config["failCgroupV1"], config["cgroupDriver"]) == (False, "cgroupfs")
    assert (config["imageGCHighThresholdPercent"], config["imageGCLowThresholdPercent"]) == (
        100,
        99,
    )
    assert config["serializeImagePulls"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{SLOT.containerd_socket}"
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": str(RUN_DIR / "pki/ca.crt")},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    taint = {"key": "ferry.dev/real-node", "value": "true", "effect": "NoSchedule"}
    assert config["registerWithTaints"] == [taint]


def test_the_kubelet_registers_the_labelled_node_on_the_slots_address() -> None:
    args = node_config.kubelet_args(LAYOUT, SLOT, Path("k.yaml"), Path("k.kubeconfig"))
    assert "--hostname-override=real-node-0" in args
    assert "--node-ip=10.86.3.2" in args
    assert "--node-labels=ferry.dev/real-node=true" in args


def test_kube_proxy_uses_iptables_and_leaves_the_machine_wide_conntrack_table_alone() -> None:
    config = node_config.kube_proxy_config(SLOT, Path("kp.kubeconfig"))
    assert config["mode"] == "iptables"
    assert config["clusterCIDR"] == "10.85.3.0/24"
    assert config["conntrack"] == {"maxPerCore": 0}


def test_placement_selects_the_real_node_and_tolerates_its_taint() -> None:
    node = RealNode.of(SLOT)
    placement = node.placement()
    assert placement["nodeSelector"] == {"ferry.dev/real-node": "true"}
    (toleration,) = placement["tolerations"]
    key, value, effect = node.taint
    assert toleration == {"key": key, "operator": "Equal", "value": value, "effect": effect}
    assert (node.host_ip, node.node_ip, node.service_cidr) == (
        "10.86.3.1",
        "10.86.3.2",
        "10.99.0.0/16",
    )


def test_a_run_directory_too_long_for_the_kubelets_sockets_is_refused_naming_the_option() -> None:
    deep = NodeLayout(Path("/tmp") / ("d" * 80) / "localcluster")
    with pytest.raises(ClusterError, match=r"too long for the kubelet's sockets.*--run-dir"):
        node.check_host(deep)
