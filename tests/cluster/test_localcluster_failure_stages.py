"""kwok failure injection: the pod annotations later tests use to simulate bad models.

World: the real local control plane with kwok pods (no containers run).
"""

import time

import pytest
from kubernetes import client

from tests.cluster.helpers import eventually, stays

pytestmark = pytest.mark.cluster


def _create_pod(core_api, namespace: str, name: str, annotations: dict[str, str]) -> None:
    core_api.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, annotations=annotations),
            spec=client.V1PodSpec(
                init_containers=[client.V1Container(name="fetch", image="x")],
                containers=[client.V1Container(name="torchserve", image="x")],
            ),
        ),
    )


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_never_ready_pod_runs_but_stays_not_ready(core_api, namespace):
    _create_pod(core_api, namespace, "stuck", {"sim.ferry.dev/fail": "never-ready"})
    read = lambda: core_api.read_namespaced_pod("stuck", namespace)  # noqa: E731
    eventually(read, lambda p: p.status.phase == "Running", what="the pod to run")
    stays(read, lambda p: not _ready(p), seconds=5, what="a never-ready pod turned Ready")


def test_crash_looping_pod_restart_count_grows(core_api, namespace):
    _create_pod(core_api, namespace, "crashy", {"sim.ferry.dev/fail": "crash-loop"})

    def serving_status():
        statuses = core_api.read_namespaced_pod("crashy", namespace).status.container_statuses
        return statuses[0] if statuses else None

    first = eventually(
        serving_status, lambda s: s is not None and s.restart_count >= 1, what="a restart"
    )
    assert first.state.waiting.reason == "CrashLoopBackOff"
    eventually(
        serving_status,
        lambda s: s.restart_count >= first.restart_count + 2,
        what="restartCount to keep growing",
    )


def test_ready_after_delays_readiness(core_api, namespace):
    _create_pod(core_api, namespace, "slow", {"sim.ferry.dev/ready-after": "6s"})
    read = lambda: core_api.read_namespaced_pod("slow", namespace)  # noqa: E731
    started = time.monotonic()
    eventually(read, lambda p: p.status.phase == "Running", what="the pod to run")
    assert not _ready(read())
    eventually(read, _ready, timeout=30, what="the pod to turn Ready")
    assert time.monotonic() - started >= 5  # not before the requested delay


def test_init_exit_code_reports_the_fetch_failure(core_api, namespace):
    message = "sha256 mismatch: expected 9f86d0..., got 2c26b4..."
    _create_pod(
        core_api,
        namespace,
        "badsum",
        {"sim.ferry.dev/init-exit-code": "10", "sim.ferry.dev/init-message": message},
    )

    def fetch_status():
        statuses = core_api.read_namespaced_pod("badsum", namespace).status.init_container_statuses
        return statuses[0] if statuses else None

    status = eventually(
        fetch_status, lambda s: s is not None and s.last_state.terminated, what="fetch to fail"
    )
    assert status.name == "fetch"
    assert status.last_state.terminated.exit_code == 10
    assert status.last_state.terminated.message == message
    assert status.state.waiting.reason == "CrashLoopBackOff"
    pod = core_api.read_namespaced_pod("badsum", namespace)
    assert pod.status.phase == "Pending"
    assert not _ready(pod)
