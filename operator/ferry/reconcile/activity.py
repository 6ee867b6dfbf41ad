"""Events worth reading: one per change of what the model is doing, not one per condition.

The rollout machine reports its own transitions (started, step reached, paused, promoted,
rolled back, aborted). Beyond those, an Event is posted when a new failure appears (the
Degraded reason changes to a failure no rollout event already explained), when the model
starts serving (Ready turns True), and when it stops serving for no failure's reason with
fewer replicas answering than before (a scale-up that is not ready yet is no news).
A new object's expected first states (not ready yet) post nothing.
"""

from collections.abc import Sequence

from ferry.api.status import Condition
from ferry.reconcile import conditions as c


def activity_events(
    previous: Sequence[Condition],
    verdicts: Sequence[c.Verdict],
    rollout: Sequence[c.EventSpec],
    answering: tuple[int, int] = (0, 0),
) -> list[c.EventSpec]:
    """`answering`: ready replicas recorded before, and now."""
    before = {cond.type: cond for cond in previous}
    now = {v.type: v for v in verdicts}
    events = list(rollout)
    explained = any(e.type == "Warning" for e in rollout)
    degraded, old_degraded = now[c.DEGRADED], before.get(c.DEGRADED)
    new_failure = degraded.status == "True" and (
        old_degraded is None
        or (old_degraded.status, old_degraded.reason) != ("True", degraded.reason)
    )
    if new_failure and not explained:
        events.append(c.EventSpec("Warning", degraded.reason, degraded.message))
    for verdict in verdicts:  # other conditions that turn into a failure (an HPA conflict)
        if verdict.type in (c.READY, c.DEGRADED, c.STALLED) or not verdict.failure:
            continue
        old = before.get(verdict.type)
        if verdict.status == "True" and (old is None or old.status != "True"):
            events.append(c.EventSpec("Warning", verdict.reason, verdict.message))
    ready, old_ready = now[c.READY], before.get(c.READY)
    was_ready = old_ready is not None and old_ready.status == "True"
    if ready.status == "True" and not was_ready:
        events.append(c.EventSpec("Normal", "Serving", ready.message))
    elif (
        ready.status != "True"
        and was_ready
        and not (new_failure or explained)
        and (answering[1] < answering[0])
    ):
        events.append(c.EventSpec("Warning", "NotServing", f"{ready.reason}: {ready.message}"))
    return events
