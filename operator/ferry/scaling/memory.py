"""What one evaluation hands the next: recent recommendations and scale events.

Like HPA, the operator keeps these in its own memory (status would be rewritten at every
evaluation otherwise). Losing them is safe: the next evaluation starts a scale-down window
at the current count, as HPA does after a controller restart, so a restart never scales
down early. They stay small without changing any outcome:

- a recommendation leaves once it is older than both windows, or once a newer one makes it
  irrelevant to both: the scale-down window takes the highest recommendation in it, and a
  newer one at least as high outlasts it; the scale-up window takes the lowest, and a newer
  one at least as low outlasts it. What is left is two staircases of distinct counts;
- a scale event leaves once it is older than the step period.

`MEMORY_LIMIT` caps each list anyway (for a caller that evaluates far more often than its
interval); the oldest surplus then folds into one entry that errs towards holding replicas.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from ferry.scaling.policy import STEP_PERIOD_SECONDS, Policy

MEMORY_LIMIT = 32  # entries per list; a CRD `maxItems` can rely on it


@dataclass(frozen=True)
class Recommendation:
    at: datetime
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    at: datetime
    change: int  # replicas added (> 0) or removed (< 0)


@dataclass(frozen=True)
class Memory:
    recommendations: tuple[Recommendation, ...] = ()  # oldest first
    scale_events: tuple[ScaleEvent, ...] = ()  # oldest first
    last_scale_time: datetime | None = None

    def stabilized(self, policy: Policy, now: datetime, current: int, wanted: int) -> int:
        """HPA's stabilization: move from `current` towards `wanted`, but no further down
        than the highest recommendation in the scale-down window and no further up than the
        lowest in the scale-up window (`wanted` included in both)."""
        up_cutoff = now - timedelta(seconds=policy.scale_up.stabilization_seconds)
        down_cutoff = now - timedelta(seconds=policy.scale_down.stabilization_seconds)
        lowest = min([wanted, *(r.replicas for r in self.recommendations if r.at > up_cutoff)])
        highest = max([wanted, *(r.replicas for r in self.recommendations if r.at > down_cutoff)])
        return min(max(current, lowest), highest)

    def period_start(self, now: datetime, current: int) -> int:
        """The replica count at the start of the step period ending now."""
        cutoff = now - timedelta(seconds=STEP_PERIOD_SECONDS)
        return current - sum(e.change for e in self.scale_events if e.at > cutoff)

    def remember(self, policy: Policy, now: datetime, recommendation: int) -> "Memory":
        up_cutoff = now - timedelta(seconds=policy.scale_up.stabilization_seconds)
        down_cutoff = now - timedelta(seconds=policy.scale_down.stabilization_seconds)
        kept: list[Recommendation] = []
        later_high, later_low = -1, sys.maxsize  # over the newer recommendations
        for rec in reversed([*self.recommendations, Recommendation(now, recommendation)]):
            needed_down = rec.at > down_cutoff and rec.replicas > later_high
            needed_up = rec.at > up_cutoff and rec.replicas < later_low
            if needed_down or needed_up:
                kept.append(rec)
            later_high, later_low = max(later_high, rec.replicas), min(later_low, rec.replicas)
        folded = _limited(
            kept[::-1], lambda old: Recommendation(old[-1].at, max(r.replicas for r in old))
        )
        return replace(self, recommendations=folded, scale_events=self._recent_events(now))

    def scaled(self, now: datetime, change: int) -> "Memory":
        events = _limited(
            [*self._recent_events(now), ScaleEvent(now, change)],
            lambda old: ScaleEvent(old[-1].at, sum(e.change for e in old)),
        )
        return replace(self, scale_events=events, last_scale_time=now)

    def _recent_events(self, now: datetime) -> tuple[ScaleEvent, ...]:
        cutoff = now - timedelta(seconds=STEP_PERIOD_SECONDS)
        return tuple(e for e in self.scale_events if e.at > cutoff)


_Entry = TypeVar("_Entry")


def _limited(entries: list[_Entry], fold: Callable[[list[_Entry]], _Entry]) -> tuple[_Entry, ...]:
    if len(entries) <= MEMORY_LIMIT:
        return tuple(entries)
    surplus = len(entries) - MEMORY_LIMIT + 1
    folded = fold(entries[:surplus])
    return (folded, *entries[surplus:])
