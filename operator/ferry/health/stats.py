"""The `/stats` document of a serving pod, and the figures of a window between two. Pure.

`/stats` holds cumulative counters (and two gauges, `pendingRequests` and `inFlight`);
consumers (canary analysis, autoscaling) keep the previous snapshot and call
`window(previous, current, seconds)`. Counters restart at zero when the pod's launcher
restarts; a window across such a restart counts from zero.
"""

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class WorkerStats(_CamelModel):
    ready: int = 0
    total: int = 0


class RequestStats(_CamelModel):
    """Client requests seen by the inference front, by outcome."""

    total: int = 0
    errors4xx: int = Field(default=0, alias="errors4xx")
    errors5xx: int = Field(default=0, alias="errors5xx")


class PodStats(_CamelModel):
    """`GET /stats` on the agent port (docs/pod-contract.md)."""

    model: str
    version: str
    workers: WorkerStats = WorkerStats()
    requests: RequestStats = RequestStats()
    latency_micros_sum: float = 0.0  # front: end-to-end time of `requests.total` requests
    queue_latency_micros_sum: float = 0.0  # TorchServe: queue wait of `backend_requests`
    backend_requests: int = 0  # requests TorchServe answered (including golden probes)
    pending_requests: int = 0  # TorchServe's job queue, now
    in_flight: int = 0  # front: client requests being answered, now
    in_flight_seconds_sum: float = 0.0  # front: integral of `in_flight` over time
    load_seconds: float | None = None  # launcher start -> first READY worker


@dataclass(frozen=True)
class WindowFigures:
    """What happened between two snapshots."""

    requests: int
    request_rate: float  # per second
    error_rate: float  # 5xx / requests: the model or server failed
    client_error_rate: float  # 4xx / requests: rejected input
    mean_latency_ms: float | None  # None without requests
    mean_queue_ms: float | None
    pending_requests: int
    # Requests in flight at the front, averaged over the window: Δ(in-flight seconds) / Δt.
    mean_concurrency: float = 0.0


def window(previous: PodStats | None, current: PodStats, seconds: float) -> WindowFigures:
    """Rates and means between `previous` (None: since start) and `current`."""
    if (
        previous is None
        or current.requests.total < previous.requests.total
        or current.in_flight_seconds_sum < previous.in_flight_seconds_sum  # never falls otherwise
    ):
        previous = PodStats(model=current.model, version=current.version)
    requests = current.requests.total - previous.requests.total
    errors5xx = current.requests.errors5xx - previous.requests.errors5xx
    errors4xx = current.requests.errors4xx - previous.requests.errors4xx
    latency = current.latency_micros_sum - previous.latency_micros_sum
    backend = current.backend_requests - previous.backend_requests
    queue = current.queue_latency_micros_sum - previous.queue_latency_micros_sum
    in_flight_seconds = current.in_flight_seconds_sum - previous.in_flight_seconds_sum
    if backend < 0:  # TorchServe restarted inside the launcher's lifetime
        backend, queue = current.backend_requests, current.queue_latency_micros_sum
    return WindowFigures(
        requests=requests,
        request_rate=requests / seconds if seconds > 0 else 0.0,
        error_rate=errors5xx / requests if requests else 0.0,
        client_error_rate=errors4xx / requests if requests else 0.0,
        mean_latency_ms=latency / requests / 1000 if requests else None,
        mean_queue_ms=queue / backend / 1000 if backend else None,
        pending_requests=current.pending_requests,
        mean_concurrency=in_flight_seconds / seconds if seconds > 0 else 0.0,
    )


@dataclass(frozen=True)
class BackendCounters:
    """TorchServe's per-model counters, summed over `model_version` label values."""

    requests: int = 0
    latency_micros_sum: float = 0.0
    queue_latency_micros_sum: float = 0.0


# Family names as the parser reports them (it strips a counter's `_total` suffix).
_COUNTERS = {
    "ts_inference_requests": "requests",
    "ts_inference_latency_microseconds": "latency_micros_sum",
    "ts_queue_latency_microseconds": "queue_latency_micros_sum",
}


def backend_counters(metrics_text: str, model: str) -> BackendCounters:
    """Parse TorchServe's Prometheus text. `default` and explicit versions are one model."""
    sums = dict.fromkeys(_COUNTERS.values(), 0.0)
    for family in text_string_to_metric_families(metrics_text):
        field = _COUNTERS.get(family.name)
        if field is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("model_name") == model:
                sums[field] += sample.value
    return BackendCounters(
        requests=int(sums["requests"]),
        latency_micros_sum=sums["latency_micros_sum"],
        queue_latency_micros_sum=sums["queue_latency_micros_sum"],
    )
