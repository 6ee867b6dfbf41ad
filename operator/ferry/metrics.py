"""The operator's Prometheus metrics (served by `python -m ferry` on the metrics port)."""

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

RECONCILES: Final = Counter(
    "ferry_reconciles_total",
    "ModelDeployment reconciles, by trigger and result (ok or error).",
    ["trigger", "result"],
)
RECONCILE_DURATION: Final = Histogram(
    "ferry_reconcile_duration_seconds",
    "Time one reconcile took, reads and writes included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
API_WRITES: Final = Counter(
    "ferry_api_writes_total",
    "Write requests the operator sent to the API server, by verb and resource.",
    ["verb", "resource"],
)
API_READS: Final = Counter(
    "ferry_api_reads_total",
    "Read requests the reconciles sent to the API server (not the watches), by verb (get or"
    " list) and resource.",
    ["verb", "resource"],
)
API_ERRORS: Final = Counter(
    "ferry_api_errors_total",
    "Requests the API server refused or that failed in transit, by verb and resource.",
    ["verb", "resource"],
)
LEADER: Final = Gauge(
    "ferry_leader",
    "1 while this replica runs the operator (holds the lease, or runs alone), else 0.",
)
