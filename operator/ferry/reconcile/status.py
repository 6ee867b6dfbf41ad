"""The status decision: what the observed Deployments and pods say about the model."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ferry.api import labels
from ferry.api.parse import ModelDeployment
from ferry.api.status import ModelDeploymentStatus
from ferry.build.network import inference_url
from ferry.build.workload import MAX_UNAVAILABLE_PERCENT
from ferry.reconcile import conditions as c
from ferry.reconcile.failure import Failure, truncate
from ferry.reconcile.observed import DeploymentView, PodView


@dataclass(frozen=True)
class Assessment:
    status: ModelDeploymentStatus
    events: tuple[c.EventSpec, ...]


@dataclass(frozen=True)
class Observation:
    deployments: dict[str, DeploymentView]  # by revision
    pods: tuple[PodView, ...]

    def pods_of(self, revision: str) -> list[PodView]:
        return sorted((p for p in self.pods if p.revision == revision), key=lambda p: p.name)


def min_ready(desired: int) -> int:
    """Replicas that must answer for Ready: the Deployment's own availability rule."""
    return desired - desired * MAX_UNAVAILABLE_PERCENT // 100


def selector(md: ModelDeployment) -> str:
    return f"{labels.MODEL_DEPLOYMENT}={md.name}"


def stable_after(
    md: ModelDeployment, revision: str, previous: ModelDeploymentStatus, seen: Observation
) -> tuple[str, str]:
    """(stable revision, its model version) once this reconcile's observations are counted.

    A revision becomes stable when all its desired replicas are ready; the previous stable
    one is kept only while its Deployment still exists (it cannot be rebuilt from the spec).
    """
    target = seen.deployments.get(revision)
    if target is not None and target.current and target.ready_replicas >= md.spec.replicas:
        return revision, md.spec.model.version
    if previous.stable_revision in seen.deployments:
        return previous.stable_revision, previous.model_version
    return "", ""


def evaluate(
    md: ModelDeployment,
    *,
    revision: str,
    previous: ModelDeploymentStatus,
    seen: Observation,
    apply_errors: Sequence[str],
    now: datetime,
) -> Assessment:
    stable, stable_version = stable_after(md, revision, previous, seen)
    serving = [d for r, d in seen.deployments.items() if r in (revision, stable)]
    ready = sum(d.ready_replicas for d in serving)
    target = seen.deployments.get(revision)
    failures = _failures(md, revision, stable, seen, apply_errors)
    verdicts = [
        _ready(md, ready, failures),
        _progressing(
            md,
            revision=revision,
            stable=stable,
            target=target,
            failures=failures,
            apply_errors=apply_errors,
        ),
        _degraded(failures),
        _artifact_verified(revision, stable, seen.pods_of(revision)),
        _scheduled(md, revision, seen.pods_of(revision)),
    ]
    status = ModelDeploymentStatus(
        observed_generation=md.generation,
        conditions=c.merge(previous.conditions, verdicts, md.generation, now),
        replicas=sum(d.replicas for d in serving),
        ready_replicas=ready,
        selector=selector(md),
        revision=revision,
        stable_revision=stable,
        model_version=stable_version or _answering_version(md, target),
        url=inference_url(md),
    )
    return Assessment(status, tuple(c.transition_events(previous.conditions, verdicts)))


def _answering_version(md: ModelDeployment, target: DeploymentView | None) -> str:
    """Before any revision is stable, the version of the first replicas that answer."""
    return md.spec.model.version if target is not None and target.ready_replicas > 0 else ""


def _failures(
    md: ModelDeployment,
    revision: str,
    stable: str,
    seen: Observation,
    apply_errors: Sequence[str],
) -> list[Failure]:
    """Everything wrong, most specific first: the first one names Ready's reason."""
    failures = []
    if apply_errors:
        failures.append(Failure("ApplyFailed", truncate("; ".join(apply_errors))))
    target = seen.deployments.get(revision)
    if target is not None and target.create_failure:
        failures.append(
            Failure(
                "PodCreationFailed",
                truncate(
                    f"{target.create_failure}; check the namespace's Pod Security "
                    "level, ResourceQuota and LimitRange"
                ),
            )
        )
    for rev in dict.fromkeys((revision, stable)):
        for pod in seen.pods_of(rev):
            failures.extend(
                f
                for f in (pod.artifact_failure, _scheduling_failure(md, pod), pod.container_failure)
                if f is not None
            )
    if target is not None and target.deadline_exceeded:
        failures.append(
            Failure(
                "ProgressDeadlineExceeded",
                truncate(
                    f"revision {revision} was not ready within "
                    f"spec.rollout.progressDeadlineSeconds "
                    f"({md.spec.rollout.progress_deadline_seconds}s): "
                    f"{target.progress_message}"
                ),
            )
        )
    return failures


def _scheduling_failure(md: ModelDeployment, pod: PodView) -> Failure | None:
    if not pod.unschedulable:
        return None
    resources = md.spec.resources
    if resources.gpu > 0 and f"Insufficient {resources.gpu_resource_name}" in pod.unschedulable:
        return Failure(
            "InsufficientGPU",
            truncate(f"pod {pod.name} needs {resources.gpu} {resources.gpu_resource_name} "
                     f"and no node has that many free ({pod.unschedulable}); lower "
                     "spec.resources.gpu or add GPU capacity"),
        )  # fmt: skip
    return Failure(
        "Unschedulable",
        truncate(f"pod {pod.name} fits no node ({pod.unschedulable}); "
                 "check spec.placement and spec.resources"),
    )  # fmt: skip


def _ready(md: ModelDeployment, ready: int, failures: list[Failure]) -> c.Verdict:
    desired = md.spec.replicas
    if desired == 0:
        return c.Verdict(c.READY, "False", "ScaledToZero", "spec.replicas is 0: nothing serves")
    needed = min_ready(desired)
    counts = f"{ready}/{desired} replicas answer"
    if ready >= needed:
        return c.Verdict(c.READY, "True", "Serving", f"{counts} for model {md.spec.model.name}")
    if failures:
        first = failures[0]
        return c.Verdict(c.READY, "False", first.reason, f"{counts}: {first.message}", True)
    return c.Verdict(
        c.READY, "False", "ReplicasNotReady", f"{counts}, {needed} needed; the model is loading"
    )


def _progressing(
    md: ModelDeployment,
    *,
    revision: str,
    stable: str,
    target: DeploymentView | None,
    failures: list[Failure],
    apply_errors: Sequence[str],
) -> c.Verdict:
    if apply_errors:
        return c.Verdict(c.PROGRESSING, "False", "ApplyFailed", failures[0].message, True)
    if target is not None and target.deadline_exceeded:
        deadline = next(f for f in failures if f.reason == "ProgressDeadlineExceeded")
        return c.Verdict(c.PROGRESSING, "False", deadline.reason, deadline.message, True)
    target_ready = target.ready_replicas if target is not None else 0
    desired = md.spec.replicas
    if stable == revision and target_ready >= desired:
        return c.Verdict(
            c.PROGRESSING,
            "False",
            "RolloutComplete",
            f"revision {revision} (model {md.spec.model.name} version "
            f"{md.spec.model.version}) is rolled out",
        )
    reason = "Scaling" if stable == revision else "RollingOut"
    message = f"revision {revision}: {target_ready}/{desired} replicas ready"
    if failures:
        message += f"; blocked by {failures[0].reason}"
    return c.Verdict(c.PROGRESSING, "True", reason, message)


def _degraded(failures: list[Failure]) -> c.Verdict:
    if failures:
        return c.Verdict(c.DEGRADED, "True", failures[0].reason, failures[0].message, True)
    return c.Verdict(c.DEGRADED, "False", "Healthy", "no failures observed")


def _artifact_verified(revision: str, stable: str, pods: list[PodView]) -> c.Verdict:
    failed = next((p.artifact_failure for p in pods if p.artifact_failure), None)
    if failed is not None:
        return c.Verdict(c.ARTIFACT_VERIFIED, "False", failed.reason, failed.message, True)
    if stable == revision or any(p.fetched for p in pods):
        return c.Verdict(
            c.ARTIFACT_VERIFIED,
            "True",
            "Verified",
            f"the artifact of revision {revision} matches spec.model.sha256",
        )
    return c.Verdict(
        c.ARTIFACT_VERIFIED, "Unknown", "Pending", f"no pod of revision {revision} fetched it yet"
    )


def _scheduled(md: ModelDeployment, revision: str, pods: list[PodView]) -> c.Verdict:
    stuck = next((f for p in pods if (f := _scheduling_failure(md, p))), None)
    if stuck is not None:
        return c.Verdict(c.SCHEDULED, "False", stuck.reason, stuck.message, True)
    if pods:
        return c.Verdict(
            c.SCHEDULED, "True", "PodsScheduled", f"every pod of revision {revision} has a node"
        )
    if md.spec.replicas == 0:
        return c.Verdict(c.SCHEDULED, "Unknown", "ScaledToZero", "spec.replicas is 0")
    return c.Verdict(c.SCHEDULED, "Unknown", "NoPods", f"revision {revision} has no pods yet")
