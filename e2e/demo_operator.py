"""Install the chart's CRD and RBAC, and run the operator as the chart's ServiceAccount.

Shared by the demo, the operator benchmark and the cluster-tier tests: in a cluster without
containers the operator runs as a local process, but with exactly the chart's permissions.
"""

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster import ClusterAccess, ClusterError
from e2e.localcluster.processes import free_port

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "ferry"
CRD = "modeldeployments.serving.ferry.dev"
# What a cluster needs for the operator to run elsewhere with the chart's permissions.
ACCESS_KINDS = frozenset(
    {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
)


def helm_binary() -> Path:
    cache = Path(os.environ.get("FERRY_CACHE", Path.home() / ".cache" / "ferry"))
    return cache / "bin" / "helm"


def render_chart(release: str, namespace: str, *helm_args: str) -> list[dict[str, Any]]:
    """The chart's objects, CRD included, as `helm template` renders them."""
    rendered = subprocess.run(
        [str(helm_binary()), "template", release, str(CHART), "-n", namespace, "--include-crds",
         *helm_args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def install_access(cluster: ClusterAccess, objects: list[dict[str, Any]]) -> None:
    """Apply the chart's `objects` (server-side) and wait until the CRD is served."""
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")


@dataclass
class OperatorProcess:
    process: "subprocess.Popen[bytes]"
    health_url: str
    metrics_url: str
    log: Path

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_operator(
    kubeconfig: Path, namespace: str, release: str, log: Path, **settings: str
) -> OperatorProcess:
    """`python -m ferry` as the chart configures it; returns once /healthz answers.

    `settings` are extra FERRY_* variables, e.g. RESYNC_SECONDS="10".
    """
    health_port, metrics_port = free_port(), free_port()
    pod_labels = {"name": "ferry", "instance": release, "component": "operator"}
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FERRY_NAMESPACE": namespace,
        "FERRY_POD_LABELS": ",".join(f"app.kubernetes.io/{k}={v}" for k, v in pod_labels.items()),
        "FERRY_HEALTH_PORT": str(health_port),
        "FERRY_METRICS_PORT": str(metrics_port),
        **{f"FERRY_{key}": value for key, value in settings.items()},
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)  # never mistake this machine for a pod
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ferry"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    running = OperatorProcess(
        process,
        f"http://127.0.0.1:{health_port}/healthz",
        f"http://127.0.0.1:{metrics_port}/metrics",
        log,
    )
    deadline = time.monotonic() + 60
    while not running.healthy():
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise ClusterError(f"the operator did not become healthy; see {log}")
        time.sleep(0.3)
    return running
