"""The status decision: what the observed revisions and the rollout say about the model.

Conditions follow both conventions GitOps tools read: Ready/Progressing/Degraded for
people and Argo CD, and kstatus' abnormal-true `Reconciling` (a rollout or scale is under
way) and `Stalled` (it cannot finish without a change: rolled back, deadline, bad artifact),
so Flux and kpt say InProgress, Current or Failed as a person would.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ferry.api import labels
from ferry.api.parse import ModelDeployment
from ferry.api.status import AutoscalingStatus, ModelDeploymentStatus, RolloutStatus
from ferry.build.network import inference_url
from ferry.build.workload import MAX_UNAVAILABLE_PERCENT
from ferry.health.readiness import Reason
from ferry.reconcile import conditions as c
from ferry.reconcile.activity import activity_events
from ferry.reconcile.artifact import ARTIFACT_FAILURES
from ferry.reconcile.autoscale import CONFLICT
from ferry.reconcile.failure import Failure, truncate
from ferry.reconcile.revisions import Observation, creation_failure, scheduling_failure
from ferry.rollout.facts import RevisionFacts, RolloutDecision

ARTIFACT_REASONS = frozenset(reason for reason, _ in ARTIFACT_FAILURES.values()) | {"FetchFailed"}
# Agent verdicts that are failures, not loading: the model answers, but wrongly.
WRONG_ANSWERS = frozenset(
    str(r) for r in (Reason.PROBE_MISMATCH, Reason.PROBE_FAILED, Reason.PROBE_TIMEOUT)
)


@dataclass(frozen=True)
class Extras:
    """What autoscaling adds: its decision, its conditions, its events."""

    autoscaling: AutoscalingStatus | None = None
    verdicts: tuple[c.Verdict, ...] = ()
    events: tuple[c.EventSpec, ...] = ()


@dataclass(frozen=True)
class Assessment:
    status: ModelDeploymentStatus
    events: tuple[c.EventSpec, ...]


def min_ready(desired: int) -> int:
    """Replicas that must answer for Ready: the Deployment's own availability rule."""
    return desired - desired * MAX_UNAVAILABLE_PERCENT // 100


def selector(md: ModelDeployment) -> str:
    return f"{labels.MODEL_DEPLOYMENT}={md.name}"


@dataclass(frozen=True)
class _Context:
    md: ModelDeployment
    target: str
    total: int
    seen: Observation
    facts: Mapping[str, RevisionFacts]
    decision: RolloutDecision
    apply_errors: Sequence[str]

    @property
    def serving(self) -> list[str]:
        """Revisions whose ready pods take traffic."""
        d = self.decision
        return [r for r in dict.fromkeys((d.stable or self.target, d.canary)) if r]

    @property
    def ended(self) -> RolloutStatus | None:
        """The rollout of the target, when it was rolled back or aborted."""
        r = self.decision.rollout
        return r if r is not None and r.phase in ("RolledBack", "Aborted") else None


def evaluate(
    md: ModelDeployment,
    *,
    target: str,
    total: int,
    previous: ModelDeploymentStatus,
    seen: Observation,
    facts: Mapping[str, RevisionFacts],
    decision: RolloutDecision,
    apply_errors: Sequence[str],
    now: datetime,
    extras: Extras = Extras(),
) -> Assessment:
    ctx = _Context(md, target, total, seen, facts, decision, apply_errors)
    ready = sum(facts[r].ready for r in ctx.serving if r in facts)
    failures = _failures(ctx)
    progressing = _progressing(ctx, failures)
    verdicts = [
        _ready(md, total, ready, failures, ctx.facts.get(ctx.serving[0])),
        progressing,
        _degraded(failures),
        _artifact_verified(ctx),
        _model_healthy(ctx),
        _scheduled(ctx),
        *_kstatus(progressing),
        *extras.verdicts,
    ]
    canary_ready = facts[decision.canary].ready if decision.canary in facts else 0
    status = ModelDeploymentStatus(
        observed_generation=md.generation,
        conditions=[
            kept
            for kept in c.merge(previous.conditions, verdicts, md.generation, now)
            if kept.type != CONFLICT or md.spec.autoscaling is not None
        ],
        # From the pods, as readyReplicas is: the Deployment's own count lags them, and
        # would cost a status write of its own.
        replicas=sum(facts[r].live for r in ctx.serving if r in facts),
        ready_replicas=ready,
        selector=selector(md),
        revision=target,
        stable_revision=decision.stable,
        model_version=decision.stable_version or _answering_version(ctx),
        image=_image(ctx),
        canary_revision=decision.canary,
        canary_version=decision.canary_version,
        canary_weight=_effective_weight(md, decision, canary_ready, ready),
        rollout=decision.rollout,
        history=decision.history,
        autoscaling=extras.autoscaling,
        url=inference_url(md),
    )
    events = activity_events(
        previous.conditions, verdicts, decision.events, (previous.ready_replicas, ready)
    )
    return Assessment(status, (*events, *extras.events))


def _effective_weight(
    md: ModelDeployment, decision: RolloutDecision, canary_ready: int, ready: int
) -> int:
    if not decision.canary:
        return 0
    if md.spec.traffic.http_route is not None:
        return decision.route_weight
    return round(100 * canary_ready / ready) if ready else 0


def _image(ctx: _Context) -> str:
    """The serving image of what answers (the stable revision), else of the spec's."""
    stable = ctx.seen.deployments.get(ctx.decision.stable)
    return stable.image if stable is not None and stable.image else ctx.md.image


def _answering_version(ctx: _Context) -> str:
    """Before any revision is stable, the version of the first replicas that answer."""
    facts = ctx.facts.get(ctx.target)
    return ctx.md.spec.model.version if facts is not None and facts.ready > 0 else ""


def _failures(ctx: _Context) -> list[Failure]:
    """Everything wrong with what serves, most specific first: the first one names Ready's
    reason. A canary's troubles are not here: they roll it back (or hold it)."""
    failures = []
    if ctx.apply_errors:
        failures.append(Failure("ApplyFailed", truncate("; ".join(ctx.apply_errors))))
    ended = ctx.ended
    if ended is not None:
        how = "aborted" if ended.phase == "Aborted" else "rolled back"
        failures.append(
            Failure(
                ended.reason,
                truncate(
                    f"{ended.message}; revision {ended.revision} (model {ended.version}) "
                    f"was {how}, {ctx.decision.stable} serves"
                ),
            )
        )
    for revision in ctx.serving:
        if revision != ctx.decision.canary:
            failures.extend(_revision_failures(ctx, revision))
    return failures


def _revision_failures(ctx: _Context, revision: str) -> list[Failure]:
    deployment = ctx.seen.deployments.get(revision)
    failures = []
    if deployment is not None and (created := creation_failure(deployment)):
        failures.append(created)
    for pod in ctx.seen.pods_of(revision):
        if not pod.deleting:
            found = (pod.artifact_failure, scheduling_failure(ctx.md, pod), pod.container_failure)
            failures.extend(f for f in found if f is not None)
    unready = ctx.facts[revision].unready if revision in ctx.facts else None
    if unready is not None and unready.reason in WRONG_ANSWERS:
        failures.append(unready)  # alive, but the model answers its golden request wrongly
    if deployment is not None and deployment.deadline_exceeded and not ctx.decision.stable:
        deadline = ctx.md.spec.rollout.progress_deadline_seconds
        failures.append(
            Failure(
                "ProgressDeadlineExceeded",
                truncate(
                    f"revision {revision} was not ready within "
                    f"spec.rollout.progressDeadlineSeconds ({deadline}s): "
                    f"{deployment.progress_message}"
                ),
            )
        )
    return failures


def _ready(
    md: ModelDeployment,
    total: int,
    ready: int,
    failures: list[Failure],
    serving: RevisionFacts | None,
) -> c.Verdict:
    if total == 0:
        # As asked, like a Deployment at zero (Available): GitOps tools then see it Current.
        return c.Verdict(c.READY, "True", "ScaledToZero", "no replicas wanted: nothing serves")
    needed = min_ready(total)
    counts = f"{ready}/{total} replicas answer"
    if ready >= needed:
        return c.Verdict(c.READY, "True", "Serving", f"{counts} for model {md.spec.model.name}")
    if failures:
        first = failures[0]
        return c.Verdict(c.READY, "False", first.reason, f"{counts}: {first.message}", True)
    loading = f"{counts}, {needed} needed; the model is loading"
    if serving is not None and serving.unready is not None:  # in the pod agent's words
        why = serving.unready
        return c.Verdict(c.READY, "False", why.reason, f"{loading}: {why.message}")
    return c.Verdict(c.READY, "False", "ReplicasNotReady", loading)


_FATAL_FIRST = ARTIFACT_REASONS | {"CrashLoop", "ImagePullFailed", "ContainerConfigError"}


def _progressing(ctx: _Context, failures: list[Failure]) -> c.Verdict:
    d, md = ctx.decision, ctx.md
    if ctx.apply_errors:
        return c.Verdict(c.PROGRESSING, "False", "ApplyFailed", failures[0].message, True)
    ended = ctx.ended
    if ended is not None:
        reason = "RolloutAborted" if ended.phase == "Aborted" else "RolledBack"
        return c.Verdict(c.PROGRESSING, "False", reason, failures[0].message, True)
    if d.rollout is not None:
        reason = "RolloutPaused" if d.rollout.phase == "Paused" else "RollingOut"
        return c.Verdict(c.PROGRESSING, "True", reason, d.rollout.message)
    facts = ctx.facts.get(ctx.target, RevisionFacts())
    if d.stable == ctx.target and facts.ready >= ctx.total:
        return c.Verdict(
            c.PROGRESSING,
            "False",
            "RolloutComplete",
            f"revision {ctx.target} (model {md.spec.model.name} version "
            f"{md.spec.model.version}) is rolled out",
        )
    if (
        not d.stable
        and failures
        and failures[0].reason in _FATAL_FIRST | {"ProgressDeadlineExceeded"}
    ):
        return c.Verdict(c.PROGRESSING, "False", failures[0].reason, failures[0].message, True)
    reason = "Scaling" if d.stable == ctx.target else "RollingOut"
    message = f"revision {ctx.target}: {facts.ready}/{ctx.total} replicas ready"
    if failures:
        message += f"; blocked by {failures[0].reason}"
    return c.Verdict(c.PROGRESSING, "True", reason, message)


def _kstatus(progressing: c.Verdict) -> list[c.Verdict]:
    """kstatus' abnormal-true pair, never both True (kstatus reads the first it meets)."""
    under_way, stalled = progressing.status == "True", progressing.failure
    return [
        c.Verdict(c.RECONCILING, "True" if under_way else "False", progressing.reason,
                  progressing.message),
        c.Verdict(c.STALLED, "True", progressing.reason, progressing.message, True)
        if stalled
        else c.Verdict(c.STALLED, "False", "Healthy", "nothing keeps the model from converging"),
    ]  # fmt: skip


def _degraded(failures: list[Failure]) -> c.Verdict:
    if failures:
        return c.Verdict(c.DEGRADED, "True", failures[0].reason, failures[0].message, True)
    return c.Verdict(c.DEGRADED, "False", "Healthy", "no failures observed")


def _artifact_verified(ctx: _Context) -> c.Verdict:
    ended = ctx.ended
    if ended is not None and ended.reason in ARTIFACT_REASONS:
        return c.Verdict(c.ARTIFACT_VERIFIED, "False", ended.reason, ended.message, True)
    pods = ctx.seen.pods_of(ctx.target)
    failed = next((p.artifact_failure for p in pods if p.artifact_failure), None)
    if failed is not None:
        return c.Verdict(c.ARTIFACT_VERIFIED, "False", failed.reason, failed.message, True)
    if ctx.decision.stable == ctx.target or any(p.fetched for p in pods):
        return c.Verdict(
            c.ARTIFACT_VERIFIED,
            "True",
            "Verified",
            f"the artifact of revision {ctx.target} matches spec.model.sha256",
        )
    return c.Verdict(
        c.ARTIFACT_VERIFIED, "Unknown", "Pending", f"no pod of revision {ctx.target} fetched it yet"
    )


def _model_healthy(ctx: _Context) -> c.Verdict:
    """Does the model of the spec's revision answer, in its pods' agents' words?"""
    ended = ctx.ended
    if ended is not None:
        return c.Verdict(c.MODEL_HEALTHY, "False", ended.reason, ended.message, True)
    facts = ctx.facts.get(ctx.target, RevisionFacts())
    if facts.live and facts.ready == facts.live:
        return c.Verdict(
            c.MODEL_HEALTHY, "True", "ModelAnswers",
            f"every replica of revision {ctx.target} answers (workers READY, golden request "
            "passed when set)",
        )  # fmt: skip
    if facts.unready is not None:
        failed = facts.unready.reason in WRONG_ANSWERS
        return c.Verdict(c.MODEL_HEALTHY, "False", facts.unready.reason,
                         facts.unready.message, failed)  # fmt: skip
    return c.Verdict(
        c.MODEL_HEALTHY, "Unknown", "Pending",
        f"{facts.ready}/{facts.live} replicas of revision {ctx.target} answer so far",
    )  # fmt: skip


def _scheduled(ctx: _Context) -> c.Verdict:
    pods = [p for p in ctx.seen.pods_of(ctx.target) if not p.deleting]
    hold = ctx.decision.hold
    stuck = next((f for p in pods if (f := scheduling_failure(ctx.md, p))), None)
    if hold is not None and hold.reason in ("InsufficientGPU", "Unschedulable"):
        stuck = hold
    if stuck is not None:
        return c.Verdict(c.SCHEDULED, "False", stuck.reason, stuck.message, True)
    if pods:
        return c.Verdict(
            c.SCHEDULED, "True", "PodsScheduled", f"every pod of revision {ctx.target} has a node"
        )
    return c.Verdict(c.SCHEDULED, "Unknown", "NoPods", f"revision {ctx.target} has no pods")
