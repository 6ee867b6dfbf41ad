"""Analysis intervals: when counters must be read, and what an ended interval records. Pure.

An interval runs from one reading of the pods' counters to the next, `intervalSeconds`
apart; its start time is in status, its starting snapshot in the operator's memory. A
reading without that snapshot (the operator restarted) starts the interval afresh.
"""

from dataclasses import dataclass
from datetime import datetime

from ferry.api.rollout import Analysis
from ferry.api.status import AnalysisRecord, ModelDeploymentStatus, RolloutStatus
from ferry.reconcile.conditions import EventSpec
from ferry.rollout.analysis import figures, judge
from ferry.rollout.facts import Readings

MAX_RECORDS = 5  # analysis records kept in status, newest first


@dataclass(frozen=True)
class IntervalOutcome:
    rollout: RolloutStatus
    baseline_at: datetime | None  # the reading starts an interval: remember it
    events: tuple[EventSpec, ...]
    next_due: float | None  # seconds until the running interval ends


def stats_due(
    status: ModelDeploymentStatus,
    analysis: Analysis | None,
    target: str,
    canary_ready: int,
    now: datetime,
) -> bool:
    """Whether this reconcile must read the pods' counters (a pure test on what is known)."""
    rollout = status.rollout
    if analysis is None or rollout is None or rollout.revision != target or canary_ready == 0:
        return False
    if rollout.phase not in ("Progressing", "Paused"):
        return False
    start = rollout.interval_started_at
    return start is None or (now - start).total_seconds() >= analysis.interval_seconds


def advance_interval(
    r: RolloutStatus, spec: Analysis, readings: Readings | None, now: datetime
) -> IntervalOutcome:
    interval, start = spec.interval_seconds, r.interval_started_at
    if readings is None:
        due = 0.0 if start is None else interval - (now - start).total_seconds()
        return IntervalOutcome(r, None, (), max(0.0, due))
    if start is None or readings.canary_baseline is None:
        return IntervalOutcome(r.model_copy(update={"interval_started_at": now}), now, (), interval)
    elapsed = (now - start).total_seconds()
    if elapsed < interval:
        return IntervalOutcome(r, None, (), interval - elapsed)
    canary = figures(readings.canary_baseline, readings.canary, elapsed)
    stable = None
    if spec.compares_with_stable and readings.stable_baseline is not None:
        stable = figures(readings.stable_baseline, readings.stable, elapsed)
    judgement = judge(spec, canary, stable)
    record = AnalysisRecord(
        at=now,
        step=r.step,
        requests=canary.requests,
        error_rate=canary.error_rate,
        mean_latency_ms=canary.mean_latency_ms,
        stable_requests=stable.requests if stable else None,
        stable_error_rate=stable.error_rate if stable else None,
        stable_mean_latency_ms=stable.mean_latency_ms if stable else None,
        verdict=judgement.verdict,
        message=judgement.message,
    )
    update: dict[str, object] = {
        "analysis": [record, *r.analysis][:MAX_RECORDS],
        "interval_started_at": now,
    }
    events: tuple[EventSpec, ...] = ()
    if judgement.verdict == "Passed":
        update |= {"passed_intervals": r.passed_intervals + 1, "progress_at": now}
    elif judgement.verdict == "Failed":
        failed = r.failed_intervals + 1
        # Passes before a failure no longer vouch for this step: it needs a fresh one.
        update |= {"failed_intervals": failed, "passed_intervals": 0}
        if failed <= spec.failure_limit:
            events = (
                EventSpec("Warning", "AnalysisIntervalFailed", f"step {r.step}: "
                          f"{judgement.message} ({failed} of {spec.failure_limit} failed "
                          "intervals tolerated)"),
            )  # fmt: skip
    return IntervalOutcome(r.model_copy(update=update), now, events, interval)
