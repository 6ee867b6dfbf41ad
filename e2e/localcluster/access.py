"""What every test needs from a cluster, whichever kind it is: kubectl, a client, nodes."""

import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from e2e.localcluster.nodes import node_manifest
from e2e.localcluster.processes import ClusterError, wait_until
from e2e.localcluster.realnode import RealNode


class ClusterAccess:
    """A cluster reached through an admin kubeconfig and a kubectl binary."""

    def __init__(self, kubeconfig: Path, bin_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.bin_dir = bin_dir

    @property
    def real_node(self) -> RealNode:
        """The node that runs real containers; a cluster without one fails the caller."""
        raise ClusterError(
            f"the cluster at {self.kubeconfig} has no Ferry real node: the local cluster"
            " (FERRY_CLUSTER=local, the default) starts one"
        )

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def api_client(self) -> client.ApiClient:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def add_node(self, name: str, gpus: int = 0, labels: dict[str, str] | None = None) -> None:
        """Register a simulated node and wait until the scheduler may use it."""
        with self.api_client() as api:
            client.CoreV1Api(api).create_node(node_manifest(name, gpus, labels))  # type: ignore[arg-type]
        self.wait_nodes_schedulable([name])

    def delete_node(self, name: str) -> None:
        with self.api_client() as api:
            client.CoreV1Api(api).delete_node(name)

    def wait_nodes_schedulable(self, names: list[str], timeout: float = 60) -> None:
        wait_until(
            f"nodes {names} to be Ready and schedulable",
            lambda: self.nodes_schedulable(names),
            timeout,
        )

    def nodes_schedulable(self, names: list[str]) -> bool:
        """Ready, and without the not-ready/unreachable taints the node controller adds."""
        with self.api_client() as api:
            core = client.CoreV1Api(api)

            def schedulable(name: str) -> bool:
                try:
                    node: Any = core.read_node(name)
                except ApiException:
                    return False
                ready = any(
                    c.type == "Ready" and c.status == "True" for c in node.status.conditions or []
                )
                taints = [t.key for t in node.spec.taints or []]
                return ready and not any(key.startswith("node.kubernetes.io/") for key in taints)

            return all(schedulable(n) for n in names)

    def service_account_kubeconfig(self, namespace: str, account: str, path: Path) -> Path:
        """A kubeconfig authenticating as a ServiceAccount (TokenRequest, 4 h), so code under
        test or in the demo runs with exactly that account's RBAC, not as admin."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=4 * 3600)
        )
        with self.api_client() as api:
            issued = client.CoreV1Api(api).create_namespaced_service_account_token(
                account, namespace, request
            )
        if issued.status is None:
            raise ClusterError(f"no token issued for ServiceAccount {namespace}/{account}")
        token = issued.status.token
        entry = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]
        context = {"cluster": entry["name"], "user": account, "namespace": namespace}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [entry],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": account, "context": context}],
            "current-context": account,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def apply_manifest(self, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
        docs = manifest if isinstance(manifest, list) else [manifest]
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def wait_default_service_account(self, timeout: float = 60) -> None:
        """The ServiceAccount controller runs: proof the controller-manager is working."""
        with self.api_client() as api:
            core = client.CoreV1Api(api)

            def exists() -> bool:
                try:
                    core.read_namespaced_service_account("default", "default")
                except ApiException:
                    return False
                return True

            wait_until("the default ServiceAccount (controller-manager running)", exists, timeout)
