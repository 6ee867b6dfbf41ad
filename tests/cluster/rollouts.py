"""What the rollout tests share: manifests with rollout settings, the user's actions as
annotations, a model's Events in order, and a recorder of every change to its Deployments,
pods and status.

The recorder watches (it does not poll), so it sees every state the API server stored, even
one that lasted milliseconds: a replica count a poll would miss is still in its record.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import GROUP, PLURAL, VERSION, ModelDeployments, manifest_yaml

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
REVISION = "serving.ferry.dev/revision"
MODEL_DEPLOYMENT = "serving.ferry.dev/model-deployment"
LISTED = "LISTED"  # the recorder's first list (what existed), before any watch event
# The user's actions (docs/operator.md, "User actions"), spelled as a user types them.
PROMOTE = "serving.ferry.dev/promote"
ABORT = "serving.ferry.dev/abort"
RETRY = "serving.ferry.dev/retry"
# kwok failure stages (docs/local-cluster.md), put on the pods through spec.podMetadata.
NEVER_READY = {"sim.ferry.dev/fail": "never-ready"}
CRASH_LOOP = {"sim.ferry.dev/fail": "crash-loop"}
BAD_CHECKSUM = {
    "sim.ferry.dev/init-exit-code": "10",
    "sim.ferry.dev/init-message": "sha256 mismatch: expected 9f86d081, got 0c1e3b2a",
}


def timed(weight: int, seconds: int) -> dict[str, Any]:
    return {"weight": weight, "pause": {"duration": f"{seconds}s"}}


def until_promoted(weight: int) -> dict[str, Any]:
    return {"weight": weight, "pause": {}}


def manifest(
    name: str,
    version: str,
    *,
    replicas: int = 4,
    steps: list[dict[str, Any]] | None = None,
    analysis: dict[str, Any] | None = None,
    gpus: int = 0,
    annotations: dict[str, str] | None = None,
    traffic: dict[str, Any] | None = None,
    deadline: int = 30,  # the CRD's minimum progressDeadlineSeconds
) -> str:
    """A ModelDeployment as a user writes it; only `version` and `annotations` (the pods')
    make a new revision, the rollout settings do not."""
    rollout: dict[str, Any] = {"progressDeadlineSeconds": deadline, "steps": steps or []}
    if analysis is not None:
        rollout["analysis"] = analysis
    spec: dict[str, Any] = {
        "model": {"name": name, "version": version, "uri": f"s3://m/{name}.mar", "sha256": SHA},
        "runtime": {"image": "ghcr.io/ferry/torchserve:0.12.0-gpu"},
        "resources": {"cpu": "100m", "memory": "1Gi", "gpu": gpus},
        "podMetadata": {"annotations": annotations or {}},
        "replicas": replicas,
        "rollout": rollout,
    }
    if traffic is not None:
        spec["traffic"] = traffic
    return manifest_yaml(name, spec)


def annotate(models: ModelDeployments, name: str, key: str, value: str) -> None:
    """A user action, the way `kubectl ferry` (or a person) writes it."""
    models.cluster.kubectl(
        "annotate", "--overwrite", "-n", models.namespace, f"md/{name}", f"{key}={value}"
    )


def status(models: ModelDeployments, name: str) -> dict[str, Any]:
    found: dict[str, Any] = models.get(name).get("status") or {}
    return found


def wait_status(
    models: ModelDeployments,
    name: str,
    accept: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 30,
) -> dict[str, Any]:
    return eventually(lambda: status(models, name), accept, timeout, f"{name}: {what}")


def at_step(step: int, phase: str) -> Callable[[dict[str, Any]], bool]:
    def accept(seen: dict[str, Any]) -> bool:
        rollout = seen.get("rollout") or {}
        return (rollout.get("step"), rollout.get("phase")) == (step, phase)

    return accept


def promoted(revision: str) -> Callable[[dict[str, Any]], bool]:
    def accept(seen: dict[str, Any]) -> bool:
        return seen.get("stableRevision") == revision and not seen.get("canaryRevision")

    return accept


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


def events(models: ModelDeployments, name: str) -> list[Event]:
    """The model's Events in the order they were created (one etcd: resourceVersions are
    increasing, and timestamps have whole seconds only)."""
    found = models.core.list_namespaced_event(
        models.namespace,
        field_selector=f"involvedObject.kind=ModelDeployment,involvedObject.name={name}",
    ).items
    ordered = sorted(found, key=lambda e: int(e.metadata.resource_version))
    return [Event(e.type, e.reason, e.message) for e in ordered]


def reasons(models: ModelDeployments, name: str) -> list[str]:
    return [e.reason for e in events(models, name)]


def warnings(models: ModelDeployments, name: str) -> list[Event]:
    return [e for e in events(models, name) if e.type == "Warning"]


def replicas_by_revision(models: ModelDeployments, name: str) -> dict[str, int]:
    return {d.metadata.labels[REVISION]: d.spec.replicas for d in models.deployments(name)}


def no_namespace_terminating(models: ModelDeployments) -> None:
    """Wait until earlier tests' namespaces are gone: while one terminates, the operator
    still reacts to its children going (and its writes are counted with this test's)."""
    eventually(
        lambda: [
            n.metadata.name
            for n in models.core.list_namespace().items
            if n.status.phase == "Terminating"
        ],
        lambda terminating: terminating == [],
        60,
        "earlier tests' namespaces deleted",
    )


def moment(stamp: str) -> datetime:
    """A status timestamp (RFC 3339, `Z`)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def condition(seen: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in seen.get("conditions") or () if c["type"] == kind), {})


# -- the recorder ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentState:
    name: str
    uid: str
    revision: str
    replicas: int  # spec.replicas: what the operator asked for
    ready: int  # status.readyReplicas


@dataclass(frozen=True)
class PodState:
    name: str
    uid: str
    revision: str
    ready: bool  # Ready and not being deleted: takes traffic
    gone: bool


class Recorder:
    """Every change to one model's Deployments, pods and status, in the order the API
    server stored them (one watch per kind, started before the test acts)."""

    def __init__(self, models: ModelDeployments, name: str) -> None:
        self.models, self.name = models, name
        self.deployments: list[DeploymentState] = []
        self.pods: list[PodState] = []
        self.statuses: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._api = models.cluster.api_client()
        self._threads: list[threading.Thread] = []
        self._pods_listed = 0  # pod states that came from the first list, not from changes

    # -- what was seen ---------------------------------------------------------------------

    def replica_pairs(self, stable: str, canary: str) -> list[tuple[int, int]]:
        """(stable, canary) spec.replicas after every change, from the canary Deployment's
        creation on; consecutive repeats folded."""
        current: dict[str, int] = {}
        pairs: list[tuple[int, int]] = []
        for state in self._copy(self.deployments):
            current[state.revision] = state.replicas
            if canary in current:
                pair = (current.get(stable, 0), current[canary])
                if not pairs or pairs[-1] != pair:
                    pairs.append(pair)
        return pairs

    def ready_deployment_replicas(self, revision: str) -> list[int]:
        """status.readyReplicas of one revision's Deployment after every change."""
        return [d.ready for d in self._copy(self.deployments) if d.revision == revision]

    def ready_pods(self, *revisions: str) -> list[int]:
        """Ready pods of these revisions together: as first listed, then after every change."""
        ready: dict[str, bool] = {}
        counts = []
        for index, pod in enumerate(self._copy(self.pods)):
            if pod.revision in revisions:
                ready[pod.uid] = pod.ready and not pod.gone
            if index + 1 >= self._pods_listed:  # counts from when every listed pod is in
                counts.append(sum(ready.values()))
        return counts

    def deployment_uids(self) -> dict[str, set[str]]:
        """Every Deployment name seen, with every uid it had (a re-created one has two)."""
        uids: dict[str, set[str]] = {}
        for state in self._copy(self.deployments):
            uids.setdefault(state.name, set()).add(state.uid)
        return uids

    def rollout_states(self, *fields: str) -> list[tuple[Any, ...]]:
        """The named status.rollout fields (or top-level status fields after `/`, e.g.
        `/canaryWeight`) after every status change; consecutive repeats folded."""
        states: list[tuple[Any, ...]] = []
        for seen in self._copy(self.statuses):
            rollout = seen.get("rollout") or {}
            state = tuple(seen.get(f[1:]) if f.startswith("/") else rollout.get(f) for f in fields)
            if not states or states[-1] != state:
                states.append(state)
        return states

    def messages(self) -> list[str]:
        return [(s.get("rollout") or {}).get("message", "") for s in self._copy(self.statuses)]

    def settle(self, timeout: float = 15) -> None:
        """Wait until the record holds what the API server holds now."""

        def caught_up() -> bool:
            listed = {d.metadata.uid: d.spec.replicas for d in self.models.deployments(self.name)}
            with self._lock:
                latest = {d.uid: d.replicas for d in self.deployments}
            return all(latest.get(uid) == replicas for uid, replicas in listed.items())

        eventually(caught_up, bool, timeout, f"the recorder catching up with {self.name}")

    # -- the watches -----------------------------------------------------------------------

    def __enter__(self) -> "Recorder":
        apps, core = client.AppsV1Api(self._api), client.CoreV1Api(self._api)
        custom = client.CustomObjectsApi(self._api)
        namespace, selector = self.models.namespace, f"{MODEL_DEPLOYMENT}={self.name}"
        watches: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, str], Any]] = [
            (apps.list_namespaced_deployment, (namespace,), {"label_selector": selector},
             self._deployment),
            (core.list_namespaced_pod, (namespace,), {"label_selector": selector}, self._pod),
            (custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, PLURAL),
             {"field_selector": f"metadata.name={self.name}"}, self._status),
        ]  # fmt: skip
        for lister, args, query, record in watches:
            listed = threading.Event()
            thread = threading.Thread(
                target=self._watch, args=(lister, args, query, record, listed), daemon=True
            )
            thread.start()
            self._threads.append(thread)
            if not listed.wait(timeout=15):
                raise AssertionError(f"the recorder could not list {lister.__name__}")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._api.close()

    def _watch(
        self,
        lister: Callable[..., Any],
        args: tuple[Any, ...],
        query: dict[str, str],
        record: Callable[[str, Any], None],
        listed: threading.Event,
    ) -> None:
        """List, then watch from the list's resourceVersion: nothing in between is lost."""
        version: str | None = None
        while not self._stop.is_set():
            if version is None:
                found = lister(*args, **query)
                for item in _items(found):
                    record("ADDED" if listed.is_set() else LISTED, item)
                version = _resource_version(found)
                listed.set()
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    lister, *args, resource_version=version, timeout_seconds=1, **query
                ):
                    record(event["type"], event["object"])
                    version = _resource_version(event["object"])
                    if self._stop.is_set():
                        stream.stop()
            except ApiException as error:
                if error.status != 410:
                    raise
                version = None  # too old: list again (the record keeps what it has)

    def _deployment(self, kind: str, d: Any) -> None:
        state = DeploymentState(
            d.metadata.name,
            d.metadata.uid,
            d.metadata.labels.get(REVISION, ""),
            0 if kind == "DELETED" else d.spec.replicas,
            0 if kind == "DELETED" else (d.status.ready_replicas or 0),
        )
        self._append(self.deployments, state)

    def _pod(self, kind: str, p: Any) -> None:
        if kind == LISTED:
            self._pods_listed += 1
        conditions = p.status.conditions or []
        ready = p.metadata.deletion_timestamp is None and any(
            c.type == "Ready" and c.status == "True" for c in conditions
        )
        state = PodState(
            p.metadata.name, p.metadata.uid, p.metadata.labels.get(REVISION, ""), ready,
            kind == "DELETED",
        )  # fmt: skip
        self._append(self.pods, state)

    def _status(self, kind: str, md: dict[str, Any]) -> None:
        if kind != "DELETED":
            self._append(self.statuses, md.get("status") or {})

    def _append(self, record: list[Any], item: Any) -> None:
        with self._lock:
            record.append(item)

    def _copy(self, record: list[Any]) -> list[Any]:
        with self._lock:
            return list(record)


def _items(listed: Any) -> list[Any]:
    return list(listed["items"] if isinstance(listed, dict) else listed.items)


def _resource_version(obj: Any) -> str:
    """Of a list or an object, typed or a plain dict (custom objects)."""
    if isinstance(obj, dict):
        return str(obj["metadata"]["resourceVersion"])
    return str(obj.metadata.resource_version)
