"""Run the Ferry operator against the test cluster the way the chart runs it.

The chart (CRD, ServiceAccount, least-privilege RBAC, operator Deployment) is rendered with
`helm template` and applied into a namespace that enforces Pod Security `restricted`; the
operator process then runs here, authenticated with a token of the chart's ServiceAccount,
so every request it makes is checked against exactly the chart's RBAC. (The chart's own pod
is admitted and "runs" under kwok, but no container runs in this world.)
"""

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.demo_operator import (
    OperatorProcess,
    install_access,
    render_chart,
    start_operator,
)
from e2e.localcluster import ClusterAccess
from tests.cluster.helpers import eventually

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
GROUP, VERSION, PLURAL = "serving.ferry.dev", "v1alpha1", "modeldeployments"


@dataclass
class RunningOperator:
    namespace: str  # where the chart is installed
    service_account: str
    process: OperatorProcess
    # Starts another operator process with the same account and settings, logging there.
    launch: Callable[[Path], OperatorProcess] | None = None
    earlier_logs: list[Path] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.process.log

    def kill(self) -> None:
        """SIGKILL, as when the operator is OOM-killed or its node dies."""
        self.process.process.kill()
        self.process.process.wait()

    def start_again(self) -> None:
        """A new operator process, as Kubernetes restarts the pod (it has no memory of the
        previous one: everything it resumes from is in the API server)."""
        assert self.launch is not None, "this operator cannot be started again"
        assert self.process.process.poll() is not None, "the previous process still runs"
        self.earlier_logs.append(self.log)
        runs = len(self.earlier_logs) + 1
        self.process = self.launch(self.log.with_name(f"{self.log.stem}-{runs}.log"))

    def metric_total(self, name: str, **labels: str) -> float:
        """Sum of the series of one counter on the operator's /metrics whose labels include
        `labels` (every series without any)."""
        pattern = re.compile(rf"^{name}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
        return sum(
            float(value)
            for found, value in pattern.findall(self.process.metrics())
            if all(f'{key}="{wanted}"' in found for key, wanted in labels.items())
        )

    def writes(self) -> float:
        return self.metric_total("ferry_api_writes_total")

    def wait_quiet(self, quiet_seconds: float = 10, timeout: float = 90) -> float:
        """Wait until the operator wrote nothing for `quiet_seconds`; return the write count."""
        deadline = time.monotonic() + timeout
        count = self.writes()
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            count, previous = self.writes(), count
            if count == previous:
                return count
        raise AssertionError(f"the operator kept writing for {timeout}s (log: {self.log})")

    def refusals(self) -> list[str]:
        """Log lines where RBAC denied the operator a request (not, say, a namespace that
        refuses new objects while it terminates)."""
        denied = re.compile(r'forbidden: User "system:serviceaccount:[^"]+" cannot')
        lines = (
            line for log in (*self.earlier_logs, self.log) for line in log.read_text().splitlines()
        )
        return [line for line in lines if denied.search(line)]


@contextlib.contextmanager
def operator_running(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    work_dir: Path,
    resync_seconds: float = 10,
    **settings: str,
) -> Iterator[RunningOperator]:
    """The chart's access installed in a fresh namespace and the operator running with it;
    `settings` are extra FERRY_* variables (SERVING_IMAGE_CPU=...)."""
    suffix = uuid.uuid4().hex[:6]
    namespace, release = f"ferry-system-{suffix}", f"ferry-{suffix}"
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=RESTRICTED))
        )
        objects = render_chart(release, namespace)
        install_access(cluster, objects)
        kubeconfig = service_account_kubeconfig(namespace, release)

        def launch(log: Path) -> OperatorProcess:
            return start_operator(
                kubeconfig,
                namespace,
                release,
                log,
                **{"RESYNC_SECONDS": str(resync_seconds), "RETRY_BACKOFF_SECONDS": "1", **settings},
            )

        running = RunningOperator(
            namespace, release, launch(work_dir / f"operator-{suffix}.log"), launch
        )
        try:
            yield running
        finally:
            running.process.stop()
            core.delete_namespace(namespace)
            cluster_wide = [  # RBAC and the rollout-actions admission policy (not the CRD)
                f"{o['kind'].lower()}/{o['metadata']['name']}"
                for o in objects
                if "namespace" not in o["metadata"] and o["kind"] != "CustomResourceDefinition"
            ]
            cluster.kubectl("delete", "--ignore-not-found", "--wait=false", *cluster_wide)


class ModelDeployments:
    """ModelDeployments in one namespace, read as plain dicts with an admin client."""

    def __init__(self, cluster: ClusterAccess, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._api = cluster.api_client()
        self.custom = client.CustomObjectsApi(self._api)
        self.apps = client.AppsV1Api(self._api)
        self.core = client.CoreV1Api(self._api)
        self.networking = client.NetworkingV1Api(self._api)
        self.policy = client.PolicyV1Api(self._api)
        self.discovery = client.DiscoveryV1Api(self._api)

    def apply(self, manifest: str | Path) -> None:
        text = manifest.read_text() if isinstance(manifest, Path) else manifest
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", input=text)

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return found

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        conditions = (self.get(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), {})

    def wait_condition(
        self, name: str, kind: str, status: str, reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        return eventually(
            lambda: self.condition(name, kind),
            lambda c: c.get("status") == status and reason in (None, c.get("reason")),
            timeout,
            f"{self.namespace}/{name} {kind}={status} {reason or ''}",
        )

    def deployments(self, name: str) -> list[Any]:
        selector = f"serving.ferry.dev/model-deployment={name}"
        items: list[Any] = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=selector
        ).items
        return items

    def close(self) -> None:
        self._api.close()


@pytest.fixture(scope="module")
def ferry_operator(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOperator]:
    """One operator per test module, with the chart's RBAC; it must never be refused."""
    with operator_running(
        cluster, service_account_kubeconfig, tmp_path_factory.mktemp("operator")
    ) as running:
        yield running
        assert running.refusals() == [], f"the chart's RBAC refused the operator: {running.log}"


@pytest.fixture
def restartable_operator(
    cluster: ClusterAccess,
    service_account_kubeconfig: Callable[[str, str], Path],
    tmp_path: Path,
) -> Iterator[RunningOperator]:
    """An operator of the test's own, which the test may kill and start again."""
    with operator_running(cluster, service_account_kubeconfig, tmp_path) as running:
        yield running
        assert running.refusals() == [], f"the chart's RBAC refused the operator: {running.log}"


def manifest_yaml(name: str, spec: dict[str, Any]) -> str:
    """A ModelDeployment named `name` with `spec`, as `kubectl apply -f -` takes it."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelDeployment",
            "metadata": {"name": name}, "spec": spec}  # fmt: skip
    return yaml.safe_dump(body, sort_keys=False)


@pytest.fixture
def models(cluster: ClusterAccess, namespace: str) -> Iterator[ModelDeployments]:
    deployments = ModelDeployments(cluster, namespace)
    yield deployments
    deployments.close()
