"""Per-revision facts for the rollout machine, from the observed Deployments and pods."""

from collections.abc import Mapping
from dataclasses import dataclass

from ferry.api.parse import ModelDeployment
from ferry.health.readiness import Reason, Verdict
from ferry.reconcile.failure import Failure, truncate
from ferry.reconcile.observed import DeploymentView, PodView
from ferry.rollout.capacity import Room
from ferry.rollout.facts import RevisionFacts


@dataclass(frozen=True)
class Observation:
    deployments: dict[str, DeploymentView]  # by revision
    pods: tuple[PodView, ...]

    def pods_of(self, revision: str) -> list[PodView]:
        return sorted((p for p in self.pods if p.revision == revision), key=lambda p: p.name)


def revision_facts(
    md: ModelDeployment,
    target: str,
    seen: Observation,
    room: Room | None = None,
    readiness: Mapping[str, Verdict] | None = None,
) -> dict[str, RevisionFacts]:
    """Every revision that has a Deployment; `room` sharpens InsufficientGPU messages,
    `readiness` (agents' verdicts by pod) says why running pods are not ready."""
    verdicts = readiness or {}
    facts = {}
    for revision, deployment in seen.deployments.items():
        pods = seen.pods_of(revision)
        live = [p for p in pods if not p.deleting]
        blocked = creation_failure(deployment) or next(
            (f for p in live if (f := scheduling_failure(md, p, room))), None
        )
        gpus = max(
            (p.gpus for p in pods), default=md.spec.resources.gpu if revision == target else 0
        )
        facts[revision] = RevisionFacts(
            desired=deployment.desired,
            ready=sum(p.ready for p in live),
            live=len(live),
            placed=sum(bool(p.node) for p in live),
            gpus_per_pod=gpus,
            failure=next(
                (f for p in live if (f := serving_failure(p) or wrong_answer(p, verdicts))), None
            ),
            blocked=blocked,
            unready=next((f for p in live if (f := unready(p, verdicts.get(p.name)))), None),
        )
    return facts


def unready(pod: PodView, verdict: Verdict | None) -> Failure | None:
    """A running pod's agent said why the model does not answer yet (or at all)."""
    if pod.ready or verdict is None or verdict.ready or verdict.reason is None:
        return None
    return Failure(str(verdict.reason), truncate(f"pod {pod.name}: {verdict.message}"))


def wrong_answer(pod: PodView, verdicts: Mapping[str, Verdict]) -> Failure | None:
    """The model loaded and answered its golden request, wrongly: it will not get better."""
    failure = unready(pod, verdicts.get(pod.name))
    return failure if failure is not None and failure.reason == Reason.PROBE_MISMATCH else None


def serving_failure(pod: PodView) -> Failure | None:
    """The pod cannot serve and will not by waiting: verification, crash loop, image."""
    return pod.artifact_failure or pod.container_failure


def creation_failure(deployment: DeploymentView) -> Failure | None:
    if not deployment.create_failure:
        return None
    return Failure(
        "PodCreationFailed",
        truncate(f"{deployment.create_failure}; check the namespace's Pod Security level, "
                 "ResourceQuota and LimitRange"),
    )  # fmt: skip


def scheduling_failure(
    md: ModelDeployment, pod: PodView, room: Room | None = None
) -> Failure | None:
    if not pod.unschedulable:
        return None
    resources = md.spec.resources
    if resources.gpu > 0 and f"Insufficient {resources.gpu_resource_name}" in pod.unschedulable:
        if room is None:
            now = ""
        elif room.fits:
            now = f"; room for {room.slots} more such pod(s) now"
        else:
            now = "; no node the placement allows has that many at all"
        return Failure(
            "InsufficientGPU",
            truncate(f"pod {pod.name} needs {resources.gpu} {resources.gpu_resource_name} "
                     f"and no node has that many free ({pod.unschedulable}){now}; lower "
                     "spec.resources.gpu or add GPU capacity"),
        )  # fmt: skip
    return Failure(
        "Unschedulable",
        truncate(f"pod {pod.name} fits no node ({pod.unschedulable}); "
                 "check spec.placement and spec.resources"),
    )  # fmt: skip
