"""What `kubectl ferry get` shows, built from the object, its pods and events. Pure.

A `Screen` is plain data (header fields and titled tables of strings); `render` turns it into
stable text for pipes and tests, or into rich tables for a terminal.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ferry.api.rollout import Analysis, Rollout
from ferry.api.status import AnalysisRecord, ModelDeploymentStatus
from ferry.cli.kubectl.pods import pods_section, view
from ferry.cli.kubectl.table import Section, age, parse_time, short_sha
from ferry.reconcile.observed import PodView
from ferry.rollout.steps import effective_steps

EVENTS_SHOWN = 8
ANALYSIS_SHOWN = 5


@dataclass(frozen=True)
class Screen:
    fields: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]


def rollout_spec(md: Mapping[str, Any]) -> Rollout:
    """`spec.rollout`, or the defaults when it cannot be read (the API server validated it)."""
    try:
        return Rollout.model_validate((md.get("spec") or {}).get("rollout") or {})
    except ValidationError:
        return Rollout()


def build(
    md: Mapping[str, Any],
    status: ModelDeploymentStatus,
    pods: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Screen:
    spec = md.get("spec") or {}
    views = [view(pod, spec) for pod in pods]
    rollout_spec_ = rollout_spec(md)
    sections = [
        _revisions(status, views),
        _analysis(status, rollout_spec_.analysis, now),
        pods_section(status, views, pods, now),
        _events(events, now),
    ]
    return Screen(_fields(md, status, rollout_spec_, now), tuple(sections))


def _fields(
    md: Mapping[str, Any], status: ModelDeploymentStatus, spec: Rollout, now: datetime
) -> tuple[tuple[str, str], ...]:
    metadata, model = md.get("metadata") or {}, (md.get("spec") or {}).get("model") or {}
    fields = [
        ("Name", str(metadata.get("name", ""))),
        ("Namespace", str(metadata.get("namespace", ""))),
        ("Model", f"{model.get('name', '')}  declared {model.get('version', '')}, "
                  f"serving {status.model_version or '-'}"),
    ]  # fmt: skip
    said = status.rollout.message if status.rollout else ""
    for kind in ("Ready", "Progressing", "Degraded"):
        condition = status.condition(kind)
        if condition is not None and (kind != "Degraded" or condition.status == "True"):
            text = f"{condition.status} {condition.reason}"
            message = "" if condition.message == said else condition.message
            fields.append((kind, f"{text}: {message}" if message else text))
    generation = int(metadata.get("generation") or 0)
    if status.observed_generation != generation:
        fields.append(("Observed", f"generation {status.observed_generation} of {generation}"))
    fields.append(("Replicas", f"{status.ready_replicas}/{status.replicas} ready"))
    fields.extend(_rollout_fields(status, spec))
    if status.autoscaling is not None:
        a = status.autoscaling
        value = "-" if a.metric_value is None else f"{a.metric_value:g} per replica"
        text = f"{a.desired_replicas} replicas wanted, metric {value}"
        if a.last_scale_time is not None:
            text += f", last scaled {age(a.last_scale_time, now)} ago"
        fields.append(("Autoscaling", f"{text}: {a.reason}" if a.reason else text))
    if status.url:
        fields.append(("URL", status.url))
    return tuple(fields)


def _rollout_fields(status: ModelDeploymentStatus, spec: Rollout) -> list[tuple[str, str]]:
    r = status.rollout
    if r is None:
        return [("Rollout", "none")]
    text = (
        f"{r.phase} at step {r.step}/{r.total_steps} ({r.step_weight}% wanted), "
        f"attempt {r.attempt}, revision {r.revision} (model {r.version})"
    )
    steps = effective_steps(spec)
    marks = []
    for number, step in enumerate(steps, start=1):
        pause = step.pause
        word = "" if pause is None else " pause " + (pause.duration or "until promoted")
        mark = f"{step.weight}%{word}"
        marks.append(f"[{mark}]" if number == r.step and len(steps) == r.total_steps else mark)
    fields = [("Rollout", text), ("Steps", " -> ".join(marks))]
    if r.phase in ("Progressing", "Paused"):
        fields.append(("Weight", f"{status.canary_weight}% on the canary"))
    if r.message:
        fields.append(("Message", r.message))
    if r.reason:
        fields.append(("Reason", r.reason))
    return fields


def _revisions(status: ModelDeploymentStatus, pods: Sequence[PodView]) -> Section:
    def sha_of(revision: str) -> str:
        if status.rollout is not None and status.rollout.revision == revision:
            return status.rollout.sha256
        return next((e.sha256 for e in status.history if e.revision == revision), "")

    def ready(revision: str) -> str:
        mine = [p for p in pods if p.revision == revision and not p.deleting]
        return f"{sum(p.ready for p in mine)}/{len(mine)}"

    rows = []
    canary = status.canary_weight if status.canary_revision else 0
    if status.stable_revision:
        rows.append(("stable", status.stable_revision, status.model_version,
                     short_sha(sha_of(status.stable_revision)),
                     ready(status.stable_revision), f"{100 - canary}%"))  # fmt: skip
    r = status.rollout
    if r is not None and r.revision != status.stable_revision:
        role = "canary" if r.phase in ("Progressing", "Paused") else r.phase.lower()
        rows.append((role, r.revision, r.version, short_sha(r.sha256), ready(r.revision),
                     f"{canary}%"))  # fmt: skip
    return Section(
        "Revisions", ("ROLE", "REVISION", "VERSION", "SHA256", "READY", "WEIGHT"), tuple(rows)
    )


def thresholds(analysis: Analysis | None) -> str:
    if analysis is None:
        return "no analysis (spec.rollout.analysis): steps advance on readiness and pauses"
    parts = []
    if analysis.max_error_rate is not None:
        parts.append(f"error rate <= {analysis.max_error_rate:g}")
    if analysis.max_mean_latency_ms is not None:
        parts.append(f"mean latency <= {analysis.max_mean_latency_ms:g}ms")
    if analysis.max_error_rate_increase is not None:
        parts.append(f"error rate <= stable + {analysis.max_error_rate_increase:g}")
    if analysis.max_mean_latency_ratio is not None:
        parts.append(f"latency <= {analysis.max_mean_latency_ratio:g}x stable")
    return (
        f"thresholds: {', '.join(parts)}; at least {analysis.min_requests} requests per "
        f"{analysis.interval_seconds}s interval; {analysis.failure_limit} failed interval(s) "
        "tolerated"
    )


def _analysis(status: ModelDeploymentStatus, analysis: Analysis | None, now: datetime) -> Section:
    records = status.rollout.analysis[:ANALYSIS_SHOWN] if status.rollout else []
    compares = any(a.stable_requests is not None for a in records)
    columns: tuple[str, ...] = ("AGE", "STEP", "REQUESTS", "ERROR-RATE", "LATENCY")
    columns += ("STABLE",) if compares else ()
    rows = []
    for a in records:
        row: tuple[str, ...] = (
            age(a.at, now), str(a.step), str(a.requests), _error_rate(a, analysis),
            _latency(a, analysis),
        )  # fmt: skip
        row += (_stable(a),) if compares else ()
        rows.append((*row, a.verdict, a.message))
    failed = status.rollout.failed_intervals if status.rollout else 0
    limit = f"; {failed} failed so far" if status.rollout and analysis else ""
    return Section(
        "Analysis",
        (*columns, "VERDICT", "MESSAGE"),
        tuple(rows),
        note=thresholds(analysis) + limit,
        empty="no interval measured yet",
    )


def _error_rate(a: AnalysisRecord, analysis: Analysis | None) -> str:
    if a.error_rate is None:
        return "-"
    limit = analysis.max_error_rate if analysis else None
    over = f" (>{limit:g})" if limit is not None and a.error_rate > limit else ""
    return f"{a.error_rate:.4f}{over}"


def _latency(a: AnalysisRecord, analysis: Analysis | None) -> str:
    if a.mean_latency_ms is None:
        return "-"
    limit = analysis.max_mean_latency_ms if analysis else None
    over = f" (>{limit:g}ms)" if limit is not None and a.mean_latency_ms > limit else ""
    return f"{a.mean_latency_ms:.1f}ms{over}"


def _stable(a: AnalysisRecord) -> str:
    rate = "-" if a.stable_error_rate is None else f"{a.stable_error_rate:.4f}"
    latency = "-" if a.stable_mean_latency_ms is None else f"{a.stable_mean_latency_ms:.1f}ms"
    return f"{a.stable_requests} req, {rate}, {latency}"


def event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = parse_time(event.get(key))
        if moment is not None:
            return moment
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def _event_order(event: Mapping[str, Any], now: datetime) -> tuple[datetime, int]:
    """Oldest first. Events carry whole seconds: within one, the resourceVersion (etcd's
    revision, decimal in every API server we know) keeps the order they were posted in."""
    version = str((event.get("metadata") or {}).get("resourceVersion") or "")
    return event_time(event) or now, int(version) if version.isdecimal() else 0


def _events(events: Sequence[Mapping[str, Any]], now: datetime) -> Section:
    ordered = sorted(events, key=lambda e: _event_order(e, now))[-EVENTS_SHOWN:]
    rows = tuple(
        (age(event_time(e), now), str(e.get("type", "")), str(e.get("reason", "")),
         " ".join(str(e.get("message", "")).split()))
        for e in ordered
    )  # fmt: skip
    return Section("Events", ("AGE", "TYPE", "REASON", "MESSAGE"), rows, empty="no events")


def history_section(status: ModelDeploymentStatus, now: datetime) -> Section:
    rows = tuple(
        (e.revision + (" (stable)" if e.revision == status.stable_revision else ""),
         e.version, short_sha(e.sha256), e.outcome, e.reason, f"{age(e.at, now)} ago")
        for e in status.history
    )  # fmt: skip
    return Section(
        "History",
        ("REVISION", "VERSION", "SHA256", "OUTCOME", "REASON", "WHEN"),
        rows,
        note="newest first",
        empty="no revision has finished a rollout yet",
    )
