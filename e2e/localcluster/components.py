"""Command lines of the control-plane components (the flags are the recipe)."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from e2e.localcluster.nodes import KWOK_NODE_ANNOTATION
from e2e.localcluster.pki import FRONT_PROXY_CLIENT, Pki

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)
NODE_BINARIES = ("kubelet", "kube-proxy")  # the real node's; containerd and runc are Debian's
PORT_NAMES = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
# Without a real node; a real node's slot brings its own service range.
SERVICE_CIDR = "10.96.0.0/16"
FIRST_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"  # kwok's fake pod IPs: never routed anywhere


@dataclass(frozen=True)
class Plan:
    bin_dir: Path
    run_dir: Path
    pki: Pki
    ports: dict[str, int]
    kubeconfig: Path
    kwok_config: Path
    apiserver_host: str  # loopback, or the real node's veth host end (pods reach it there)
    service_cidr: str

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def etcd(self) -> list[str]:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        return [
            self._bin("etcd"),
            "--name=ferry",
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=ferry={peer}",
            "--unsafe-no-fsync",  # test clusters only: durability is not the point
            "--log-level=warn",
        ]

    def apiserver(self) -> list[str]:
        pki = self.pki
        return [
            self._bin("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            # Without an explicit address it needs a default route, which sandboxes lack.
            f"--bind-address={self.apiserver_host}",
            f"--advertise-address={self.apiserver_host}",
            f"--secure-port={self.ports['apiserver']}",
            f"--cert-dir={self.run_dir / 'pki'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--token-auth-file={pki.token_file}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_public_key}",
            f"--service-account-signing-key-file={pki.sa_private_key}",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--authorization-mode=Node,RBAC",
            # logs, exec, port-forward: dial kubelets by address (no DNS for node names here)
            # and authenticate to them with a client certificate.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--kubelet-client-certificate={pki.kubelet_client_cert}",
            f"--kubelet-client-key={pki.kubelet_client_key}",
            # API aggregation (metrics.k8s.io from metrics-server, for an HPA on CPU): the
            # apiserver proxies with this client certificate and the user in headers, and
            # publishes the CA and names in kube-system/extension-apiserver-authentication.
            f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
            f"--proxy-client-key-file={pki.front_proxy_client_key}",
            f"--requestheader-client-ca-file={pki.ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            # Real clusters allow privileged pods; PodSecurity admission is what refuses them.
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
        ]

    def controllers(self) -> list[tuple[str, list[str]]]:
        scheduler_config = self.run_dir / "scheduler.yaml"
        scheduler_config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {"kubeconfig": str(self.kubeconfig)},
                    "leaderElection": {"leaderElect": False},
                }
            )
        )
        return [
            (
                "kube-controller-manager",
                [
                    self._bin("kube-controller-manager"),
                    f"--kubeconfig={self.kubeconfig}",
                    "--controllers=*",
                    "--leader-elect=false",
                    f"--root-ca-file={self.pki.ca_cert}",
                    f"--service-account-private-key-file={self.pki.sa_private_key}",
                    f"--service-cluster-ip-range={self.service_cidr}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={self.ports['controller-manager']}",
                    "--v=0",
                ],
            ),
            (
                "kube-scheduler",
                [
                    self._bin("kube-scheduler"),
                    f"--config={scheduler_config}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={self.ports['scheduler']}",
                    "--v=0",
                ],
            ),
            (
                "kwok",
                [
                    self._bin("kwok"),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--config={self.kwok_config}",
                    # The simulated nodes only (nodes.py annotates them): the real node
                    # has a kubelet of its own.
                    f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                    # Shorter leases would let nodes go NotReady and their pods be evicted.
                    "--node-lease-duration-seconds=40",
                    f"--cidr={POD_CIDR}",
                    "--node-ip=127.0.0.1",
                    f"--server-address=127.0.0.1:{self.ports['kwok']}",
                ],
            ),
        ]
