"""Configuration files of the real node (containerd, CNI, kubelet, kube-proxy), rendered from
its slot and run directory. Pure: nothing here touches the machine. The settings and their
reasons are the measured recipe (docs/local-cluster.md, "The real node")."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.images import PAUSE_IMAGE
from e2e.localcluster.realnode import NODE_LABEL, NODE_NAME, NODE_TAINT
from e2e.localcluster.slots import Slot

SANDBOX_IMAGE = PAUSE_IMAGE  # built by `make images`, in the seed every node is cloned from
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
RUNC = Path("/usr/sbin/runc")
# Inside the node's own network namespace the kubelet's and kube-proxy's standard ports
# cannot collide with anything on the host or with another cluster's node.
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_HEALTHZ_PORT = 10256
KUBE_PROXY_METRICS_PORT = 10249


@dataclass(frozen=True)
class NodeLayout:
    """Where the node keeps its files inside the cluster's run directory."""

    run_dir: Path

    @property
    def config_dir(self) -> Path:
        return self.run_dir / "node"

    @property
    def containerd_dir(self) -> Path:
        return self.run_dir / "containerd"

    @property
    def containerd_root(self) -> Path:
        return self.containerd_dir / "root"

    @property
    def containerd_state(self) -> Path:
        return self.containerd_dir / "state"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.run_dir / "cni" / "net.d"

    @property
    def ipam_dir(self) -> Path:
        return self.run_dir / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.run_dir / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.run_dir / "pod-logs"

    def dirs(self) -> list[Path]:
        return [self.config_dir, self.containerd_dir, self.cni_conf_dir, self.ipam_dir,
                self.kubelet_root, self.pod_logs]  # fmt: skip


def containerd_config(layout: NodeLayout, slot: Slot) -> str:
    """containerd 1.6 (Debian bookworm) without systemd, every path it allows under the run
    directory or the slot (the shim sockets in /run/containerd/s are hard-coded)."""
    d = layout.containerd_dir
    return f"""\
version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"

[grpc]
  address = "{slot.containerd_socket}"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d / "opt"}"

  [plugins."io.containerd.grpc.v1.cri"]
    # imported locally (seed containerd root); there is no registry
    sandbox_image = "{SANDBOX_IMAGE}"
    # No process here has CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj to the -998
    # the kubelet asks for sandboxes; clamp to containerd's own score instead.
    restrict_oom_score_adj = true
    # pod network namespaces under the state dir instead of /var/run/netns
    netns_mounts_under_state_dir = true
    disable_hugetlb_controller = true
    tolerate_missing_hugetlb_controller = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "{RUNC}"
          Root = "{d / "runc"}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{CNI_BIN_DIR}"
      conf_dir = "{layout.cni_conf_dir}"
      max_conf_num = 1
"""


def cni_conflist(layout: NodeLayout, slot: Slot) -> dict[str, Any]:
    """A bridge network named after the slot (libcni's cache files in /var/lib/cni carry
    that name, so one cluster's leftovers are told from another's)."""
    return {
        "cniVersion": "1.0.0",
        "name": slot.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": slot.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,  # a pod reaches itself through its own Service
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.ipam_dir),
                    "ranges": [[{"subnet": slot.pod_cidr, "gateway": slot.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    layout: NodeLayout, slot: Slot, ca_cert: Path, serving: tuple[Path, Path]
) -> dict[str, Any]:
    socket = f"unix://{slot.containerd_socket}"
    key, value, effect = NODE_TAINT
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # kubelet 1.35 refuses cgroup v1 otherwise
        "cgroupDriver": "cgroupfs",  # no systemd
        # Its own root in every hierarchy: two kubelets never collect each other's cgroups.
        "cgroupRoot": slot.cgroup_root,
        "failSwapOn": False,
        "containerRuntimeEndpoint": socket,
        "imageServiceEndpoint": socket,
        "address": "0.0.0.0",  # the node's namespace only: its veth and loopback
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        # The apiserver authenticates with its kubelet-client certificate (logs, exec, ...).
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        "registerNode": True,
        # Simulated pods (kwok stages) never land here; real pods opt in with a toleration.
        "registerWithTaints": [{"key": key, "value": value, "effect": effect}],
        "podLogsDir": str(layout.pod_logs),
        # Images are imported, never pulled: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "maxPods": 110,
        "serializeImagePulls": False,
    }


def kubelet_args(layout: NodeLayout, slot: Slot, config: Path, kubeconfig: Path) -> list[str]:
    return [
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.kubelet_root / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={slot.node_ip}",
        f"--node-labels={'='.join(NODE_LABEL)}",
    ]


def kube_proxy_config(slot: Slot, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS_PORT}",
        "clusterCIDR": slot.pod_cidr,
        # nf_conntrack_max is machine-wide: leave it alone.
        "conntrack": {"maxPerCore": 0},
    }


def kubeconfig(server: str, ca_cert: Path, user_name: str, user: dict[str, str]) -> dict[str, Any]:
    """A one-cluster, one-user kubeconfig; `user` is a token or a client cert and key."""
    cluster = {"server": server, "certificate-authority": str(ca_cert)}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ferry-local", "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [
            {"name": "ferry-local", "context": {"cluster": "ferry-local", "user": user_name}}
        ],
        "current-context": "ferry-local",
    }


def client_cert_user(cert: Path, key: Path) -> dict[str, str]:
    return {"client-certificate": str(cert), "client-key": str(key)}
