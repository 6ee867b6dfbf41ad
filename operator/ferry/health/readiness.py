"""The readiness verdict of one serving pod, from plain observations. Pure.

TorchServe's `/ping` says Healthy while workers crash-loop, so readiness is decided from the
management API's describe answer (workers READY) and, when configured, a golden request.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """`reason` of a not-ready `/readyz` answer (docs/pod-contract.md)."""

    STARTING = "Starting"
    SERVER_DOWN = "ServerDown"
    WORKERS_NOT_READY = "WorkersNotReady"
    PROBE_FAILED = "ProbeFailed"
    PROBE_MISMATCH = "ProbeMismatch"
    PROBE_TIMEOUT = "ProbeTimeout"


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: Reason | None = None
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        if self.ready:
            return {"ready": True}
        return {"ready": False, "reason": str(self.reason), "message": self.message}


READY = Verdict(ready=True)


@dataclass(frozen=True)
class WorkerCounts:
    ready: int
    total: int


def worker_counts(describe: Any) -> WorkerCounts:
    """READY and total workers from `GET /models/<name>` (a list with one model entry)."""
    entry = describe[0] if isinstance(describe, list) and describe else describe
    workers = entry.get("workers", []) if isinstance(entry, dict) else []
    ready = sum(1 for worker in workers if worker.get("status") == "READY")
    return WorkerCounts(ready=ready, total=len(workers))


def workers_verdict(describe: Any, *, model_known: bool) -> Verdict:
    """Ready as far as workers go. `model_known` is False while TorchServe has no such model."""
    if not model_known:
        return Verdict(False, Reason.STARTING, "the model is not registered yet")
    counts = worker_counts(describe)
    if counts.ready == 0:
        return Verdict(False, Reason.WORKERS_NOT_READY, f"0 of {counts.total} workers are READY")
    return READY


def server_down(message: str) -> Verdict:
    return Verdict(False, Reason.SERVER_DOWN, message)


@dataclass(frozen=True)
class ProbeOutcome:
    """What the golden request returned: an HTTP status and body, or a timeout/error."""

    status: int | None = None  # None: no answer at all
    body: Any = None
    timed_out: bool = False
    error: str = ""


def probe_verdict(outcome: ProbeOutcome, mismatch: str | None) -> Verdict:
    """The golden request's verdict; `mismatch` is golden.mismatch() of a 200 body."""
    if outcome.timed_out:
        return Verdict(False, Reason.PROBE_TIMEOUT, "the golden request timed out")
    if outcome.status is None:
        return Verdict(False, Reason.PROBE_FAILED, f"the golden request failed: {outcome.error}")
    if outcome.status != 200:
        return Verdict(
            False, Reason.PROBE_FAILED, f"the golden request answered HTTP {outcome.status}"
        )
    if mismatch is not None:
        return Verdict(False, Reason.PROBE_MISMATCH, mismatch)
    return READY
