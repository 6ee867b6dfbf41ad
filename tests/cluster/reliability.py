"""What the reliability scenarios (docs/reliability.md) share: manifests, a private cluster
with its own operator, and snapshots of what a user would compare before and after.
"""

import contextlib
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from e2e.localcluster import LocalCluster
from tests.cluster.operator_harness import (
    ModelDeployments,
    RunningOperator,
    manifest_yaml,
    operator_running,
)

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
REVISION = "serving.ferry.dev/revision"
OWNER = "serving.ferry.dev/model-deployment"
# Conditions that move while a rollout or a scale is under way, by design.
MOVING = frozenset({"Progressing", "Reconciling"})
# ... and while a canary step adds pods: ModelHealthy is Pending while one loads.
STEPPING = MOVING | {"ModelHealthy"}


def manifest(
    name: str,
    version: str = "1.0.0",
    *,
    replicas: int = 2,
    steps: list[dict[str, Any]] | None = None,
    gpus: int = 0,
    deadline: int = 600,
) -> str:
    spec: dict[str, Any] = {
        "model": {"name": name, "version": version, "uri": f"s3://m/{name}.mar", "sha256": SHA},
        "resources": {"cpu": "100m", "memory": "256Mi", "gpu": gpus},
        "replicas": replicas,
        "rollout": {"steps": steps or [], "progressDeadlineSeconds": deadline},
    }
    return manifest_yaml(name, spec)


def timed(weight: int, seconds: int) -> dict[str, Any]:
    return {"weight": weight, "pause": {"duration": f"{seconds}s"}}


def conditions(models: ModelDeployments, name: str) -> dict[str, tuple[str, str, str]]:
    """type -> (status, reason, lastTransitionTime)."""
    found = (models.get(name).get("status") or {}).get("conditions") or []
    return {c["type"]: (c["status"], c["reason"], c["lastTransitionTime"]) for c in found}


def ready(models: ModelDeployments, name: str) -> bool:
    return models.condition(name, "Ready").get("status") == "True"


def pods(models: ModelDeployments, name: str) -> dict[str, tuple[str, int]]:
    """uid -> (node, restarts) of a ModelDeployment's pods."""
    found = models.core.list_namespaced_pod(models.namespace, label_selector=f"{OWNER}={name}")
    return {
        p.metadata.uid: (
            p.spec.node_name or "",
            sum(s.restart_count for s in p.status.container_statuses or []),
        )
        for p in found.items
        if p.metadata.deletion_timestamp is None
    }


def children_per_revision(models: ModelDeployments, name: str) -> dict[str, dict[str, int]]:
    """kind -> revision -> how many objects: a duplicate child shows as a count above 1."""
    selector, namespace = f"{OWNER}={name}", models.namespace
    listed = {
        "Deployment": models.apps.list_namespaced_deployment(namespace, label_selector=selector),
        "ConfigMap": models.core.list_namespaced_config_map(namespace, label_selector=selector),
    }
    counts: dict[str, dict[str, int]] = {}
    for kind, found in listed.items():
        for item in found.items:
            revision = item.metadata.labels[REVISION]
            counts.setdefault(kind, {})[revision] = counts.get(kind, {}).get(revision, 0) + 1
    return counts


def tracebacks(*logs: Path) -> list[str]:
    """The lines opening a Python traceback in operator logs: a bug, never an outage."""
    return [
        line
        for log in logs
        for line in log.read_text(errors="replace").splitlines()
        if re.search(r"Traceback \(most recent call last\)", line)
    ]


@dataclass
class PrivateWorld:
    """A private control plane (kwok nodes only) with its own operator and one namespace."""

    cluster: LocalCluster
    operator: RunningOperator
    models: ModelDeployments


@contextlib.contextmanager
def private_world(work_dir: Path, resync_seconds: float = 10) -> Iterator[PrivateWorld]:
    cluster = LocalCluster(run_dir=work_dir / "cluster", real_node=False)
    cluster.up()
    try:
        accounts = work_dir / "accounts"
        accounts.mkdir()

        def kubeconfig(namespace: str, name: str) -> Path:
            path = accounts / f"{namespace}-{name}.kubeconfig"
            return cluster.service_account_kubeconfig(namespace, name, path)

        with operator_running(cluster, kubeconfig, work_dir, resync_seconds) as operator:
            with cluster.api_client() as api:
                client.CoreV1Api(api).create_namespace(
                    client.V1Namespace(metadata=client.V1ObjectMeta(name="models"))
                )
            models = ModelDeployments(cluster, "models")
            try:
                yield PrivateWorld(cluster, operator, models)
            finally:
                models.close()
    finally:
        cluster.down()


class Chaos:
    """Kills the operator (SIGKILL, as an OOM kill or a lost node does) after seeded random
    intervals and starts a new process `restart_after` seconds later, as its Deployment
    would. Stops by itself after `limit` kills, and when the block ends (an operator is then
    running again)."""

    def __init__(
        self,
        operator: RunningOperator,
        seed: int,
        every: tuple[float, float] = (20, 120),
        restart_after: float = 1.0,
        limit: int = 10,
    ) -> None:
        self.operator = operator
        self.schedule = random.Random(seed)
        self.every = every
        self.restart_after = restart_after
        self.limit = limit
        self.kills: list[float] = []  # monotonic times
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def __enter__(self) -> "Chaos":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while len(self.kills) < self.limit:
            if self._stop.wait(self.schedule.uniform(*self.every)):
                return
            self.operator.kill()
            self.kills.append(time.monotonic())
            self._stop.wait(self.restart_after)  # restarted even when the block just ended
            self.operator.start_again()
