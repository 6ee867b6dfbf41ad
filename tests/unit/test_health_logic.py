"""Readiness verdicts, golden output comparison and stats windows over plain data."""

import pytest

from ferry.health import golden, readiness
from ferry.health.stats import PodStats, RequestStats, backend_counters, window
from ferry.torchserve.settings import ProbeExpectation

pytestmark = pytest.mark.unit


def describe(*statuses: str) -> list[dict[str, object]]:
    return [{"modelName": "m", "workers": [{"status": s} for s in statuses]}]


def test_workers_decide_readiness() -> None:
    assert readiness.workers_verdict(describe("READY", "UNLOADING"), model_known=True).ready
    verdict = readiness.workers_verdict(describe("UNLOADING"), model_known=True)
    assert (verdict.reason, verdict.message) == ("WorkersNotReady", "0 of 1 workers are READY")
    assert readiness.workers_verdict(None, model_known=False).reason == "Starting"
    assert readiness.worker_counts(describe("READY", "STOPPED")) == readiness.WorkerCounts(1, 2)


@pytest.mark.parametrize(
    ("outcome", "mismatch", "reason"),
    [
        (readiness.ProbeOutcome(timed_out=True), None, "ProbeTimeout"),
        (readiness.ProbeOutcome(error="refused"), None, "ProbeFailed"),
        (readiness.ProbeOutcome(status=503), None, "ProbeFailed"),
        (readiness.ProbeOutcome(status=200), "shape differs", "ProbeMismatch"),
        (readiness.ProbeOutcome(status=200), None, None),
    ],
)
def test_probe_verdicts(
    outcome: readiness.ProbeOutcome, mismatch: str | None, reason: str | None
) -> None:
    verdict = readiness.probe_verdict(outcome, mismatch)
    assert verdict.reason == reason
    assert verdict.as_json()["ready"] is (reason is None)


def test_golden_shapes_and_values() -> None:
    assert golden.shape_of([[1, 2, 3], [4, 5, 6]]) == [2, 3]
    assert golden.shape_of([[1], [2, 3]]) is None
    expect = ProbeExpectation(shape=[1, 2], values=[[0.5, 1.0]], tolerance=0.01)
    assert golden.mismatch([[0.501, 0.999]], expect) is None
    assert (
        golden.mismatch([[0.6, 1.0]], expect)
        == "output[0][0]: 0.6 differs from 0.5 by more than 0.01"
    )
    assert golden.mismatch([[0.5]], expect) == "output shape [1, 1] != expected [1, 2]"
    named = ProbeExpectation(values={"label": "cat"})
    assert golden.mismatch({"label": "dog"}, named) == "output.label: 'dog' != 'cat'"


def snapshot(total: int, e4: int, e5: int, latency: float, backend: int, queue: float) -> PodStats:
    return PodStats(
        model="m",
        version="1",
        requests=RequestStats(total=total, errors4xx=e4, errors5xx=e5),
        latency_micros_sum=latency,
        backend_requests=backend,
        queue_latency_micros_sum=queue,
    )


def test_window_rates_and_means() -> None:
    figures = window(snapshot(10, 1, 0, 5e4, 12, 1e4), snapshot(110, 6, 2, 1.05e6, 112, 2.1e5), 10)
    assert figures.requests == 100
    assert figures.request_rate == 10
    assert figures.error_rate == pytest.approx(0.02)
    assert figures.client_error_rate == pytest.approx(0.05)
    assert figures.mean_latency_ms == pytest.approx(10.0)
    assert figures.mean_queue_ms == pytest.approx(2.0)


def test_window_across_a_restart_counts_from_zero() -> None:
    figures = window(snapshot(500, 0, 0, 9e6, 500, 1e6), snapshot(4, 0, 1, 4e3, 4, 400), 5)
    assert (figures.requests, figures.error_rate, figures.mean_queue_ms) == (4, 0.25, 0.1)
    empty = window(None, snapshot(0, 0, 0, 0, 0, 0), 5)
    assert empty.mean_latency_ms is None
    assert empty.error_rate == 0


def test_stats_json_uses_the_contract_names() -> None:
    document = snapshot(1, 0, 0, 1, 1, 1).model_dump(mode="json", by_alias=True)
    assert set(document) >= {
        "requests",
        "latencyMicrosSum",
        "queueLatencyMicrosSum",
        "pendingRequests",
    }
    assert set(document["requests"]) == {"total", "errors4xx", "errors5xx"}


def test_torchserve_metrics_are_summed_over_versions() -> None:
    text = """# TYPE ts_inference_requests_total counter
ts_inference_requests_total{model_name="m",model_version="default",hostname="h",} 3.0
ts_inference_requests_total{model_name="m",model_version="1.0",hostname="h",} 2.0
ts_inference_requests_total{model_name="other",model_version="default",hostname="h",} 9.0
# TYPE ts_queue_latency_microseconds counter
ts_queue_latency_microseconds{model_name="m",model_version="default",hostname="h",} 150.5
"""
    counters = backend_counters(text, "m")
    assert (counters.requests, counters.queue_latency_micros_sum) == (5, 150.5)
