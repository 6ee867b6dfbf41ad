"""A real container on the real node, under Pod Security `restricted`: Ready through a real
readiness probe, reachable from the host by pod IP and ClusterIP, `kubectl logs`, `exec` and
`port-forward` working, and the host and the apiserver reachable from inside the pod.

World: the session's local cluster and its real kubelet node (containerd + runc, CNI bridge,
kube-proxy); the container is Ferry's operator image running `python3 -m http.server`.
"""

import http.server
import ipaddress
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.images import OPERATOR_IMAGE
from e2e.localcluster import ClusterAccess
from e2e.localcluster.processes import free_port, wait_until

pytestmark = pytest.mark.pods

PORT = 8080


def web_pod(placement: dict[str, Any]) -> dict[str, Any]:
    """The smallest pod the restricted profile admits, serving its working directory."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            **placement,
            # python3 as PID 1 ignores SIGTERM: without this, deletion waits 30 s.
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "web",
                    "image": OPERATOR_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-m", "http.server", str(PORT), "--directory", "/"],
                    "ports": [{"containerPort": PORT}],
                    "readinessProbe": {
                        "httpGet": {"path": "/", "port": PORT},
                        "periodSeconds": 1,
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "128Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": PORT}]},
}


def get_status(url: str, within: float) -> int:
    """The status of GET `url`, retried for `within` seconds while nothing answers."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def port_forwarded_status(cluster: ClusterAccess, namespace: str) -> int:
    """GET / through `kubectl port-forward` (apiserver -> kubelet -> containerd's stream)."""
    local = free_port()
    argv = [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig)]
    forward = subprocess.Popen(
        [*argv, "port-forward", "-n", namespace, "pod/web", f"{local}:{PORT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return get_status(f"http://127.0.0.1:{local}/", within=10)
    finally:
        forward.terminate()
        forward.wait(timeout=10)


@pytest.fixture
def host_server(cluster: ClusterAccess) -> Iterator[str]:
    """An HTTP server on the host address pods reach (where tests serve model artifacts)."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host")

        def log_message(self, *args: object) -> None:
            pass  # keep the test's output to what it asserts

    server = http.server.ThreadingHTTPServer((cluster.real_node.host_ip, 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{cluster.real_node.host_ip}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_restricted_pod_runs_on_the_real_node_and_is_reachable(
    cluster: ClusterAccess, restricted_namespace: str, host_server: str
) -> None:
    node = cluster.real_node
    ns = restricted_namespace
    started = time.monotonic()
    for manifest in (web_pod(node.placement()), SERVICE):
        cluster.apply_manifest({**manifest, "metadata": {**manifest["metadata"], "namespace": ns}})
    cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=60s")
    print(f"restricted pod Ready {time.monotonic() - started:.1f}s after apply")

    pod = cluster.kubectl(
        "get", "-n", ns, "pod", "web", "-o", "jsonpath={.spec.nodeName} {.status.podIP}"
    ).stdout.split()
    assert pod[0] == node.name
    assert ipaddress.ip_address(pod[1]) in ipaddress.ip_network(node.pod_cidr)
    assert get_status(f"http://{pod[1]}:{PORT}/", within=5) == 200
    cluster_ip = cluster.kubectl(
        "get", "-n", ns, "service", "web", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(node.service_cidr)
    # kube-proxy writes the Service's rules up to a second after the pod turns Ready.
    assert get_status(f"http://{cluster_ip}/", within=5) == 200

    wait_until(
        "the pod's access log to show the host's requests",
        lambda: '"GET / HTTP/1.1" 200' in cluster.kubectl("logs", "-n", ns, "web").stdout,
        10,
    )
    assert port_forwarded_status(cluster, ns) == 200
    exec_python = ("exec", "-n", ns, "web", "--", "python3", "-c")
    identity = cluster.kubectl(*exec_python, "import os; print(os.getuid())").stdout
    assert int(identity) != 0  # runAsNonRoot, enforced for real
    fetched = cluster.kubectl(
        *exec_python,
        f"import urllib.request; print(urllib.request.urlopen({host_server!r}).read().decode())",
    ).stdout
    assert fetched.strip() == "hello from the host"
    # The apiserver listens where pods reach it: the `kubernetes` Service, verified with the
    # service-account CA (its serving certificate carries the Service's ClusterIP).
    version = cluster.kubectl(
        *exec_python,
        "import json, os, ssl, urllib.request;"
        " sa = '/var/run/secrets/kubernetes.io/serviceaccount/';"
        " ctx = ssl.create_default_context(cafile=sa + 'ca.crt');"
        " host = os.environ['KUBERNETES_SERVICE_HOST'];"
        " url = f'https://{host}/version';"
        " print(json.load(urllib.request.urlopen(url, context=ctx))['gitVersion'])",
    ).stdout
    assert version.strip() == "v1.35.4"
