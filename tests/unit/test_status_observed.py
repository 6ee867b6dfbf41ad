"""What pods and Deployments say, as plain views (unit world: pure)."""

import pytest

from ferry.reconcile.observed import deployment_view, pod_view
from tests.unit import md_samples as s

pytestmark = pytest.mark.unit

GPU = "nvidia.com/gpu"
IMAGE = "ghcr.io/ferry/torchserve:0.12.0-cpu"


def test_ready_pod_has_fetched_and_has_no_failure() -> None:
    view = pod_view(s.ready_pod("m", "r1", "m-r1-a"), IMAGE, GPU)
    assert (view.ready, view.fetched, view.revision) == (True, True, "r1")
    assert view.artifact_failure is None
    assert view.container_failure is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (10, "ArtifactChecksumMismatch"),
        (11, "ArtifactNotFound"),
        (12, "ArtifactAuthFailed"),
        (13, "UnsupportedScheme"),
        (14, "ArtifactUnreachable"),
        (15, "UnsafeArtifactFormat"),
        (16, "InvalidArchive"),
        (2, "FetchMisconfigured"),
        (137, "FetchFailed"),
    ],
)
def test_fetch_exit_codes_become_artifact_reasons(code: int, reason: str) -> None:
    raw = s.fetch_failed_pod("m", "r1", "m-r1-a", code, "the verdict of ferry-fetch")
    failure = pod_view(raw, IMAGE, GPU).artifact_failure
    assert failure is not None
    assert failure.reason == reason
    assert "m-r1-a" in failure.message


def test_checksum_mismatch_message_carries_the_termination_message_and_the_fix() -> None:
    raw = s.fetch_failed_pod("m", "r1", "m-r1-a", 10, "sha256 mismatch: expected 9f86, got 0c1e")
    failure = pod_view(raw, IMAGE, GPU).artifact_failure
    assert failure is not None
    assert "sha256 mismatch: expected 9f86, got 0c1e" in failure.message
    assert "spec.model.sha256" in failure.message


def test_unschedulable_pod_keeps_the_schedulers_words() -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    view = pod_view(s.unschedulable_pod("m", "r1", "m-r1-a", message), IMAGE, GPU)
    assert view.unschedulable == message


def test_crash_loop_names_the_container_and_the_exit() -> None:
    failure = pod_view(
        s.crash_looping_pod("m", "r1", "m-r1-a", "OOMKilled"), IMAGE, GPU
    ).container_failure
    assert failure is not None
    assert failure.reason == "CrashLoop"
    assert "torchserve" in failure.message
    assert "spec.resources.memory" in failure.message


def test_image_pull_failure_points_at_the_image() -> None:
    raw = s.pod(
        "m",
        "r1",
        "m-r1-a",
        initContainerStatuses=[{"name": "fetch", "state": {"waiting": {"reason": "ErrImagePull"}}}],
    )
    failure = pod_view(raw, IMAGE, GPU).container_failure
    assert failure is not None
    assert failure.reason == "ImagePullFailed"
    assert IMAGE in failure.message


def test_deployment_view_reads_progress_deadline() -> None:
    view = deployment_view(s.deployment("m", "r1", ready=0, deadline=True))
    assert (view.revision, view.ready_replicas, view.deadline_exceeded) == ("r1", 0, True)
    assert view.current
