"""One autoscaling evaluation: policy + observed pods + clock + memory -> desired replicas.

The order is HPA's (`normalizeDesiredReplicasWithBehaviors`):

1. a current count outside [min, max] goes straight to the bound;
2. the metric's proposal (`proposal.py`), bounded by min/max and by the GPUs that can still
   be placed: this is the recommendation remembered for the windows;
3. stabilization: no lower than the highest recommendation of the scale-down window, no
   higher than the lowest of the scale-up window;
4. step limits: at most `maxStepPercent` of the count at the start of the step period
   added (rounded up, so a small count can grow) or removed (rounded down, as HPA does).

Every step that holds the count back names itself in the reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ferry.scaling.memory import Memory
from ferry.scaling.policy import STEP_PERIOD_SECONDS, Policy, Rules
from ferry.scaling.proposal import PodSample, Proposal, propose


@dataclass(frozen=True)
class GpuRoom:
    """The GPUs a scale-up can still get, on the nodes this deployment's placement allows."""

    free: int  # allocatable minus the requests of pods bound to those nodes
    per_replica: int  # what one replica requests
    placed: int  # this deployment's replicas already bound to a node (not in `free`)
    resource: str = "nvidia.com/gpu"

    def __post_init__(self) -> None:
        if self.per_replica < 1 or self.free < 0 or self.placed < 0:
            raise ValueError(f"{self}: per_replica must be >= 1, free and placed >= 0")

    @property
    def fitting_replicas(self) -> int:
        """The most replicas that can run at once. A pod still waiting for a node holds no
        GPU: it is not in `placed`, and the GPUs it waits for are still in `free`, so the
        room it needs is counted once, not twice."""
        return self.placed + self.free // self.per_replica


@dataclass(frozen=True)
class Decision:
    desired: int
    metric_value: float | None  # per replica, over ready pods; None without any value
    reason: str
    memory: Memory  # for the next evaluation
    changed: bool  # desired differs from the current count: worth an Event
    gpu_shortfall: int = 0  # units of the GPU resource a wanted scale-up could not get


def decide(
    policy: Policy,
    *,
    current: int,
    pods: Sequence[PodSample],
    now: datetime,
    memory: Memory | None,
    gpu: GpuRoom | None = None,
) -> Decision:
    """`current`: the total the workloads are sized to now (all revisions).
    `memory`: the previous decision's, None the first time (or after a restart)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not policy.min_replicas <= current <= policy.max_replicas:
        bound = policy.bounded(current)
        side = "below minReplicas" if current < policy.min_replicas else "above maxReplicas"
        return _outcome(current, bound, memory or Memory(), now, reason=f"{side} {bound}")
    if memory is None:
        # Start the scale-down window at the current count, as HPA does after a controller
        # restart: a fresh or lost status must not scale down at once.
        memory = Memory()
        if policy.scale_down.stabilization_seconds:
            memory = memory.remember(policy, now, current)
    proposal = propose(policy, current, pods)
    if proposal is None:
        reason = f"no {policy.metric} value from a ready pod yet"
        return _outcome(current, current, memory, now, reason=reason)

    held: list[str] = []
    wanted = policy.bounded(proposal.replicas)
    if proposal.replicas > wanted:
        held.append(f"limited by maxReplicas {policy.max_replicas}")
    elif proposal.replicas < wanted:
        held.append(f"held at minReplicas {policy.min_replicas}")
    shortfall = 0
    if gpu is not None and wanted > (room := max(current, gpu.fitting_replicas)):
        shortfall = (wanted - room) * gpu.per_replica
        held.append(
            f"InsufficientGPU: need {shortfall} more {gpu.resource} for {wanted} replicas"
            f" ({gpu.free} free)"
        )
        wanted = room  # remembered capped: a shortfall must not ratchet the target up

    stable = memory.stabilized(policy, now, current, wanted)
    if stable != wanted:
        rules, direction = _direction(policy, up=wanted > current)
        held.append(
            f"scale-{direction} held by stabilization window ({rules.stabilization_seconds}s)"
        )
    desired = _step_limited(policy, memory, now, current, stable)
    if desired != stable:
        rules, direction = _direction(policy, up=stable > current)
        held.append(
            f"scale-{direction} limited to {rules.max_step_percent}% per {STEP_PERIOD_SECONDS}s"
        )
    return _outcome(
        current,
        desired,
        memory.remember(policy, now, wanted),
        now,
        reason="; ".join([_basis(policy, proposal), *held]),
        value=proposal.value,
        gpu_shortfall=shortfall,
    )


def _direction(policy: Policy, *, up: bool) -> tuple[Rules, str]:
    return (policy.scale_up, "up") if up else (policy.scale_down, "down")


def _step_limited(policy: Policy, memory: Memory, now: datetime, current: int, to: int) -> int:
    start = memory.period_start(now, current)
    if to > current:
        most = -(-start * (100 + policy.scale_up.max_step_percent) // 100)  # rounded up
        return min(to, max(most, current))
    if to < current:
        least = start * (100 - policy.scale_down.max_step_percent) // 100
        return max(to, min(least, current))
    return to


def _outcome(
    current: int,
    desired: int,
    memory: Memory,
    now: datetime,
    *,
    reason: str,
    value: float | None = None,
    gpu_shortfall: int = 0,
) -> Decision:
    changed = desired != current
    if changed:
        memory = memory.scaled(now, desired - current)
    outcome = f"{current} -> {desired}" if changed else f"stays at {desired}"
    return Decision(desired, value, f"{reason}: {outcome}", memory, changed, gpu_shortfall)


def _basis(policy: Policy, proposal: Proposal) -> str:
    value, target = _number(proposal.value), _number(policy.target)
    metric, tolerance = policy.metric, f"{_number(policy.tolerance * 100)}%"
    if policy.within_tolerance(proposal.ratio):
        text = f"{metric} {value} per replica within tolerance {tolerance} of target {target}"
    else:
        side = ">" if proposal.ratio > 1 else "<"
        text = f"{metric} {value} per replica {side} target {target} (tolerance {tolerance})"
    return f"{text}, {proposal.counted}" if proposal.counted else text


def _number(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")
