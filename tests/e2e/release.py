"""The chart installed by a real `helm install`, and the operator running as its release.

No container runs on this cluster (kwok plays the kubelets), so the operator pod Helm
creates is admitted, scheduled and marked Ready but does nothing. The operator runs here as a
local process instead, exactly as that pod would: authenticated with a token of the
ServiceAccount the release created, and with the FERRY_* settings the release gave the pod.
"""

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from e2e.demo_operator import CHART, helm_binary, start_operator
from e2e.localcluster import ClusterAccess
from tests.cluster.operator_harness import RESTRICTED, RunningOperator

# Settings that name this machine's ports rather than the pod's.
LOCAL_SETTINGS = frozenset({"FERRY_HEALTH_PORT", "FERRY_METRICS_PORT"})


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
        """`helm install --wait`: returns once the operator's Deployment is available."""
        return self.helm("install", self.name, str(CHART), "--wait", "--timeout", "120s")

    def status(self) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.helm("status", self.name, "-o", "json").stdout)
        return shown

    def uninstall(self) -> subprocess.CompletedProcess[str]:
        return self.helm("uninstall", self.name, "--wait", "--timeout", "120s")

    def operator_settings(self) -> dict[str, str]:
        """The FERRY_* values the release put into its operator pod (names without the
        prefix, as `start_operator` takes them), except the ports of this machine."""
        with self.cluster.api_client() as api:
            deployment = client.AppsV1Api(api).read_namespaced_deployment(self.name, self.namespace)
        (container,) = deployment.spec.template.spec.containers
        return {
            var.name.removeprefix("FERRY_"): var.value
            for var in container.env
            if var.name.startswith("FERRY_") and var.value is not None
            and var.name not in LOCAL_SETTINGS
        }  # fmt: skip


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
    """The operator of one release, run here as the release's ServiceAccount; it can be
    stopped and started again, and every run's log is kept."""

    release: HelmRelease
    kubeconfig: Path  # a token of the release's ServiceAccount
    log_dir: Path
    runs: list[RunningOperator] = field(default_factory=list)

    @property
    def running(self) -> RunningOperator:
        return self.runs[-1]

    def start(self) -> RunningOperator:
        log = self.log_dir / f"operator-{self.release.name}-{len(self.runs) + 1}.log"
        process = start_operator(
            self.kubeconfig,
            self.release.namespace,
            self.release.name,
            log,
            **self.release.operator_settings(),
        )
        self.runs.append(RunningOperator(self.release.namespace, self.release.name, process))
        return self.running

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod."""
        if self.runs and self.running.process.process.poll() is None:
            self.running.process.stop()

    def kill(self) -> None:
        """SIGKILL, as when the operator is OOM-killed or its node dies."""
        self.running.process.process.kill()
        self.running.process.process.wait()

    def refusals(self) -> list[str]:
        """RBAC denials in the log of any run."""
        return [line for run in self.runs for line in run.refusals()]


@contextlib.contextmanager
def operator_of(
    release: HelmRelease,
    service_account_kubeconfig: Callable[[str, str], Path],
    log_dir: Path,
) -> Iterator[ReleaseOperator]:
    """Start the release's operator; stop it afterwards (if the test has not)."""
    operator = ReleaseOperator(
        release, service_account_kubeconfig(release.namespace, release.name), log_dir
    )
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
