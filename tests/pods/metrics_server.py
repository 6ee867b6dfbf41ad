"""metrics-server on the real node, for the test of a real HPA on CPU.

It runs as upstream deploys it: its own kustomize base (RBAC, a Deployment in kube-system,
a Service, the APIService `v1beta1.metrics.k8s.io`), rendered with `kubectl kustomize` from
the copy `e2e/metrics-server/build.sh` keeps next to the binary it built from the Go module.
Only what this cluster needs is changed, in the Deployment:

- the image: none is pulled here, so the static binary is mounted from the host (hostPath)
  into the pause image, the one image in the seed without an OS (upstream's is distroless);
- the pod goes onto the real node (its placement), the only node that runs containers;
- `--kubelet-certificate-authority`: the kubelet's serving certificate is signed by the
  cluster CA, which every pod's ServiceAccount volume carries, so TLS to the kubelet is
  verified (upstream's README suggests `--kubelet-insecure-tls` for such clusters instead);
- `--node-selector`: only the real node has a kubelet to scrape (kwok's nodes have none).

The apiserver reaches it through the Service's ClusterIP (the host routes the service
range to the node) and authenticates with its front-proxy client certificate
(e2e/localcluster/components.py). On leaving, the APIService goes first: an APIService
without a backend breaks discovery, and namespace deletion with it.
"""

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import yaml

from e2e.images import PAUSE_IMAGE
from e2e.localcluster import ClusterAccess
from e2e.localcluster.processes import ClusterError
from tests.cluster.helpers import eventually

NAMESPACE = "kube-system"
API_SERVICE = "v1beta1.metrics.k8s.io"
BINARY = "/metrics-server"
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
READY_SECONDS = 120  # upstream's readiness probe waits 20 s, then a scrape every 15 s


def manifests(cluster: ClusterAccess) -> list[dict[str, Any]]:
    """Upstream's base, rendered, with the Deployment adapted to this cluster."""
    binary = cluster.bin_dir / "metrics-server"
    base = cluster.bin_dir.parent / "metrics-server-manifests"
    if not binary.is_file() or not (base / "kustomization.yaml").is_file():
        raise ClusterError(f"{binary} or {base} is missing: run `make binaries`")
    rendered = cluster.kubectl("kustomize", str(base)).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    for document in documents:
        if document["kind"] == "Deployment":
            _adapt(document["spec"]["template"]["spec"], cluster, str(binary))
    return documents


def _adapt(pod: dict[str, Any], cluster: ClusterAccess, binary: str) -> None:
    placement = cluster.real_node.placement()
    pod["nodeSelector"] = {**pod.get("nodeSelector", {}), **placement["nodeSelector"]}
    pod["tolerations"] = placement["tolerations"]
    pod["terminationGracePeriodSeconds"] = 1
    pod["volumes"].append({"name": "binary", "hostPath": {"path": binary, "type": "File"}})
    (container,) = pod["containers"]
    container["image"] = PAUSE_IMAGE
    container["imagePullPolicy"] = "Never"
    container["command"] = [BINARY]
    container["args"] += [
        f"--kubelet-certificate-authority={SA_CA}",
        f"--node-selector=kubernetes.io/hostname={cluster.real_node.name}",
    ]
    container["volumeMounts"].append({"name": "binary", "mountPath": BINARY, "readOnly": True})


@contextlib.contextmanager
def metrics_server_running(cluster: ClusterAccess) -> Iterator[None]:
    """metrics-server serving the real node's pods' CPU, until the block ends."""
    documents = manifests(cluster)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    try:
        eventually(
            lambda: node_cpu(cluster),
            lambda cpu: cpu is not None,
            READY_SECONDS,
            f"metrics.k8s.io serving {cluster.real_node.name}'s CPU through {API_SERVICE}",
        )
        yield
    finally:
        ordered = sorted(documents, key=lambda d: d["kind"] != "APIService")
        for document in ordered:
            kind, name = document["kind"], document["metadata"]["name"]
            where = (
                ["-n", document["metadata"]["namespace"]]
                if kind != "APIService" and ("namespace" in document["metadata"])
                else []
            )
            cluster.kubectl("delete", "--ignore-not-found", *where, f"{kind}/{name}")


def node_cpu(cluster: ClusterAccess) -> str | None:
    """The real node's CPU usage as the resource metrics API reports it (None: not yet)."""
    path = f"/apis/metrics.k8s.io/v1beta1/nodes/{cluster.real_node.name}"
    found = cluster.kubectl("get", "--raw", path, check=False)
    if found.returncode != 0:
        return None
    usage: str | None = json.loads(found.stdout).get("usage", {}).get("cpu")
    return usage
