"""Canary analysis over one interval: figures from the pods' counters, then a verdict. Pure.

Each pod's agent serves cumulative counters (`/stats`); a revision's figures for an
interval are the sums of each pod's deltas between the snapshot taken when the interval
started and the one taken when it ended. A pod whose counters went backwards restarted and
counts from zero; a pod that appeared meanwhile counts from zero too.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from ferry.api.rollout import Analysis
from ferry.api.status import Verdict
from ferry.health.stats import PodStats, window

Snapshot = Mapping[str, PodStats]  # pod name -> its counters at one moment


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int  # 5xx: the model or the server failed
    latency_ms_sum: float

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_ms_sum / self.requests if self.requests else None


def figures(baseline: Snapshot, current: Snapshot, seconds: float) -> Figures:
    requests = errors = 0
    latency = 0.0
    for pod, stats in current.items():
        delta = window(baseline.get(pod), stats, seconds)
        requests += delta.requests
        errors += round(delta.error_rate * delta.requests)
        latency += (delta.mean_latency_ms or 0.0) * delta.requests
    return Figures(requests, errors, latency)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str


def judge(spec: Analysis, canary: Figures, stable: Figures | None) -> Judgement:
    """Passed, Failed (the message carries the numbers), or Inconclusive (too few requests)."""
    if canary.requests < spec.min_requests:
        return Judgement(
            "Inconclusive",
            f"{canary.requests} canary requests in the interval, "
            f"spec.rollout.analysis.minRequests is {spec.min_requests}",
        )
    over = _absolute(spec, canary)
    if over:
        return Judgement("Failed", over)
    if spec.compares_with_stable:
        if stable is None or stable.requests < spec.min_requests:
            seen = stable.requests if stable else 0
            return Judgement(
                "Inconclusive",
                f"{seen} stable requests in the interval, too few to compare with "
                f"(spec.rollout.analysis.minRequests is {spec.min_requests})",
            )
        over = _relative(spec, canary, stable)
        if over:
            return Judgement("Failed", over)
    return Judgement("Passed", f"{_describe(canary)} within the thresholds")


def _absolute(spec: Analysis, canary: Figures) -> str:
    rate, latency = canary.error_rate or 0.0, canary.mean_latency_ms or 0.0
    n = canary.requests
    if spec.max_error_rate is not None and rate > spec.max_error_rate:
        return f"error rate {rate:.3g} over {n} requests > {spec.max_error_rate:g}"
    if spec.max_mean_latency_ms is not None and latency > spec.max_mean_latency_ms:
        return f"mean latency {latency:.1f}ms over {n} requests > {spec.max_mean_latency_ms:g}ms"
    return ""


def _relative(spec: Analysis, canary: Figures, stable: Figures) -> str:
    rate, base_rate = canary.error_rate or 0.0, stable.error_rate or 0.0
    if spec.max_error_rate_increase is not None and rate - base_rate > spec.max_error_rate_increase:
        return (
            f"error rate {rate:.3g} over {canary.requests} requests exceeds the stable "
            f"revision's {base_rate:.3g} by more than {spec.max_error_rate_increase:g}"
        )
    latency, base_latency = canary.mean_latency_ms or 0.0, stable.mean_latency_ms or 0.0
    ratio = spec.max_mean_latency_ratio
    if ratio is not None and base_latency > 0 and latency > ratio * base_latency:
        return (
            f"mean latency {latency:.1f}ms over {canary.requests} requests is more than "
            f"{ratio:g}x the stable revision's {base_latency:.1f}ms"
        )
    return ""


def _describe(canary: Figures) -> str:
    return (
        f"error rate {canary.error_rate or 0.0:.3g} and mean latency "
        f"{canary.mean_latency_ms or 0.0:.1f}ms over {canary.requests} requests"
    )
