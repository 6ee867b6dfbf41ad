"""The chart installed by a real `helm install`, its operator running in the pod it creates.

The release's operator pod runs the operator image built here (`localhost/ferry/operator`)
on the local cluster's real node, with exactly the chart's ServiceAccount, RBAC and
settings; it reaches the API server through the `kubernetes` Service. Only the values a
local cluster needs are set: where the images come from, the node to run on (the real one;
the others are simulated), and shorter resync and retry delays so tests run fast.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from e2e.chart_values import local_values
from e2e.demo_operator import CHART, helm_binary
from e2e.localcluster import ClusterAccess
from tests.cluster.operator_harness import RESTRICTED

_DENIED = re.compile(r'forbidden: User "system:serviceaccount:[^"]+" cannot')


@dataclass
class HelmRelease:
    """One release of charts/ferry, in its own namespace, driven by the helm binary."""

    cluster: ClusterAccess
    name: str  # contains "ferry", so it is also the chart's full name (SA, roles, Deployment)
    namespace: str
    helm_home: Path  # helm's config, cache and data: never the user's

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        homes = {
            f"HELM_{kind}_HOME": str(self.helm_home / kind) for kind in ("CONFIG", "CACHE", "DATA")
        }
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), **homes}
        done = subprocess.run(
            [str(helm_binary()), *args, "--namespace", self.namespace],
            capture_output=True, text=True, env=env, timeout=180, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def install(self) -> subprocess.CompletedProcess[str]:
        """`helm install --wait`: returns once the operator's pod is ready (it answers
        /healthz, which kopf serves once it watches)."""
        self.helm_home.mkdir(parents=True, exist_ok=True)
        values = self.helm_home / "values.yaml"
        values.write_text(yaml.safe_dump(local_values(self.cluster)))
        return self.helm(
            "install", self.name, str(CHART), "-f", str(values), "--wait", "--timeout", "180s"
        )

    def status(self) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.helm("status", self.name, "-o", "json").stdout)
        return shown

    def uninstall(self) -> subprocess.CompletedProcess[str]:
        return self.helm("uninstall", self.name, "--wait", "--timeout", "120s")


@contextlib.contextmanager
def release_namespace(cluster: ClusterAccess, work_dir: Path) -> Iterator[HelmRelease]:
    """A not yet installed release with a fresh namespace enforcing Pod Security
    `restricted`. Afterwards the release is uninstalled if it still exists, and the
    namespace deleted."""
    suffix = uuid.uuid4().hex[:6]
    release = HelmRelease(cluster, f"ferry-e2e-{suffix}", f"ferry-e2e-{suffix}", work_dir / "helm")
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=release.namespace, labels=RESTRICTED)
            )
        )
        try:
            yield release
        finally:
            if release.name in release.helm("list", "-q").stdout.split():
                release.uninstall()
            core.delete_namespace(release.namespace)


@dataclass
class ReleaseOperator:
    """The operator pod of one release: killed and started again as a node loss and a
    rescheduling would, its logs and metrics read as a user reads them."""

    release: HelmRelease
    logs: list[str] = field(default_factory=list)  # of earlier pods, kept when they go

    @property
    def cluster(self) -> ClusterAccess:
        return self.release.cluster

    def pod(self) -> Any:
        with self.cluster.api_client() as api:
            pods = client.CoreV1Api(api).list_namespaced_pod(self.release.namespace).items
        (running,) = [p for p in pods if not p.metadata.deletion_timestamp]
        return running

    def log(self) -> str:
        """This pod's log (the operator writes to stdout)."""
        shown = self.cluster.kubectl(
            "logs", "-n", self.release.namespace, f"deployment/{self.release.name}", check=False
        )
        return shown.stdout

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a dying node ends it, and no pod to replace it
        meanwhile (the real node cordoned): the real node's containers are processes of
        this machine, found by their pod's cgroup."""
        pod = self.pod()
        self.logs.append(self.log())
        node = self.cluster.real_node.name
        self.cluster.kubectl("cordon", node)
        killed = _kill_pod_processes(pod.metadata.uid)
        assert killed, f"no process of pod {pod.metadata.name} found to kill"
        self.cluster.kubectl(
            "delete", "pod", "-n", self.release.namespace, pod.metadata.name,
            "--grace-period=0", "--force",
        )  # fmt: skip

    def start(self) -> None:
        """Scheduled again (the node back): a new pod, ready once it watches."""
        self.cluster.kubectl("uncordon", self.cluster.real_node.name)
        self.cluster.kubectl(
            "rollout", "status", "-n", self.release.namespace,
            f"deployment/{self.release.name}", "--timeout=120s",
        )  # fmt: skip

    def refusals(self) -> list[str]:
        """RBAC denials in the log of any pod this release ran."""
        return [line for log in [*self.logs, self.log()] for line in log.splitlines()
                if _DENIED.search(line)]  # fmt: skip


def _kill_pod_processes(pod_uid: str) -> list[int]:
    """SIGKILL every process whose cgroup is the pod's (the kubelet's cgroupfs layout puts
    them under .../pod<uid>/...); returns their pids."""
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdecimal():
            continue
        try:
            cgroups = (proc / "cgroup").read_text()
        except OSError:
            continue
        if f"pod{pod_uid}" in cgroups:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
    return killed
