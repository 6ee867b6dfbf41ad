"""How many replicas each revision gets at a step: surge when there is room, else step the
stable revision down first, never below its floor. Pure.

The canary gets ceil(weight * total / 100) replicas (at least one), the stable revision the
rest; the Service spreads traffic over the ready pods of both. Stable pods are removed only
as ready canary pods replace them, one for one, so serving capacity never dips while the
canary loads, and a canary that never gets ready never costs the stable revision a pod.
When the new pods cannot be placed (no free GPU), stable pods go first, but at most
max(1, ⌊25 % of total⌋) of them before their replacements are ready: the floor is the
Deployment's own availability rule, and the `1` is what lets a model that fills every GPU
of the cluster roll out at all (a one-replica model then briefly has none).
"""

import math
from dataclasses import dataclass

from ferry.rollout.capacity import Room
from ferry.scaling.split import split

__all__ = ["Observed", "ReplicaPlan", "floor", "plan", "split"]


def floor(total: int) -> int:
    """Ready replicas a rollout that is short of room keeps, at least."""
    return total - max(1, total * 25 // 100) if total > 0 else 0


@dataclass(frozen=True)
class Observed:
    stable_desired: int  # the stable Deployment's replicas now
    stable_live: int  # stable pods not being deleted
    canary_ready: int
    canary_placed: int  # canary pods bound to a node
    stable_gpus: int = 0  # GPUs per pod of each revision (they may differ)
    canary_gpus: int = 0


@dataclass(frozen=True)
class ReplicaPlan:
    stable: int
    canary: int
    stepping_down: bool  # stable pods are removed first to make room


def plan(total: int, weight: int, seen: Observed, room: Room | None) -> ReplicaPlan:
    """Replicas for a step of `weight`; `room` for more canary pods (None: no GPU
    constraint). A canary no eligible node could hold even empty costs the stable nothing:
    it waits, and rolls back at the deadline."""
    stable_target, canary_target = split(total, weight)
    # Never grow the stable revision back during a step: it was stepped down on purpose.
    stable = max(stable_target, min(seen.stable_desired, total - seen.canary_ready))
    needed = max(0, canary_target - seen.canary_placed)
    if room is None or needed == 0 or not room.fits:
        return ReplicaPlan(stable, canary_target, stepping_down=False)
    free_slots = room.slots
    # Pods of the stable revision above its desired count are going away: their GPUs count.
    freeing = max(0, seen.stable_live - seen.stable_desired)
    slots = free_slots + (freeing * seen.stable_gpus // seen.canary_gpus if seen.canary_gpus else 0)
    shortfall = needed - slots
    if shortfall <= 0:
        return ReplicaPlan(stable, canary_target, stepping_down=False)
    per_stable = seen.stable_gpus or 1
    remove = math.ceil(shortfall * max(seen.canary_gpus, 1) / per_stable)
    lowest = max(stable_target, floor(total) - seen.canary_ready)
    return ReplicaPlan(max(lowest, stable - remove), canary_target, stepping_down=True)
