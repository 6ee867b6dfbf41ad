"""What the metric alone asks for: Kubernetes HPA's replica calculation for a Pods metric.

The metric value is the mean over *ready pods that reported a value* for the last window (all
revisions together; for `requestsPerSecond` that is the total rate / those pods). The ratio
`value / target` is compared with 1:

- within the tolerance band (`|ratio - 1| <= tolerance`): keep the current count;
- otherwise `ceil(ratio * pods that reported)`.

Pods that cannot be measured yet are counted so that a scale-up does not compound while new
pods load, and a scale-down does not act on a guess (HPA's rules, `calcPlainMetricReplicas`):

- a pod that is **not ready** (starting, loading the model, failing its probe) is left out on
  a scale-down, and counted as **0** load on a scale-up: the pods a previous scale-up added
  already absorb their share, so while they load the same load asks for no more;
- a **ready pod without a value** (no window yet) counts as **0** on a scale-up and as exactly
  the **target** on a scale-down;
- with such pods counted in, the ratio is computed again over all of them; if it falls inside
  the tolerance band, or on the other side of 1 (the direction would reverse), or the new count
  moves the other way, the current count is kept.

No ready pod with a value: no proposal (the caller holds the current count and says why).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from ferry.scaling.policy import EPSILON, Policy


@dataclass(frozen=True)
class PodSample:
    """One pod of any revision, as the last window saw it."""

    ready: bool
    value: float | None  # the policy's metric over the last window; None: not measured yet


@dataclass(frozen=True)
class Proposal:
    replicas: int
    value: float  # the metric per replica: mean over ready pods that reported
    ratio: float  # value / target
    counted: str  # how unmeasured pods were counted ("" when none were), for the reason


def propose(policy: Policy, current: int, pods: Sequence[PodSample]) -> Proposal | None:
    measured = [p.value for p in pods if p.ready and p.value is not None]
    if not measured:
        return None
    missing = sum(1 for p in pods if p.ready and p.value is None)
    not_ready = sum(1 for p in pods if not p.ready)
    value = fmean(measured)
    ratio = value / policy.target

    # Inside the band nothing moves, whatever the unmeasured pods: counting them in only
    # brings the ratio closer to 1 or across it, and both keep the current count.
    if policy.within_tolerance(ratio):
        return Proposal(current, value, ratio, counted="")
    up_with_not_ready = not_ready > 0 and ratio > 1
    if not up_with_not_ready and not missing:
        return Proposal(_ceil(ratio * len(measured)), value, ratio, counted="")

    values, notes = list(measured), []
    if missing:
        values += [policy.target if ratio < 1 else 0.0] * missing
        notes.append(f"{_pods(missing)} without a value as {'target' if ratio < 1 else '0'}")
    if up_with_not_ready:
        values += [0.0] * not_ready
        notes.append(f"{_pods(not_ready)} not ready as 0")
    counted = "counting " + " and ".join(notes)
    new_ratio = fmean(values) / policy.target
    replicas = _ceil(new_ratio * len(values))
    keeps = (
        policy.within_tolerance(new_ratio)
        or (ratio < 1 < new_ratio or ratio > 1 > new_ratio)  # the direction would reverse
        or (new_ratio < 1 and replicas > current)
        or (new_ratio > 1 and replicas < current)
    )
    return Proposal(current if keeps else replicas, value, ratio, counted)


def _ceil(x: float) -> int:
    return math.ceil(x - EPSILON)


def _pods(n: int) -> str:
    return f"{n} pod{'s' if n != 1 else ''}"
