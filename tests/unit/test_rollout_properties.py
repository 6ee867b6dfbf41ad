"""Properties of the rollout machine over random rollouts (unit world: pure, hypothesis)."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.rollout import replicas as rp
from ferry.rollout.actions import FULL, Actions
from ferry.rollout.capacity import Room
from tests.unit.rollout_sim import Behaviour, Sim, serving, target

pytestmark = pytest.mark.unit

V2 = target("2.0.0")


@st.composite
def rollouts(draw: st.DrawFn) -> dict[str, Any]:
    weights = sorted(draw(st.sets(st.integers(1, 100), min_size=0, max_size=4)))
    steps = []
    for weight in weights:
        pause = draw(st.sampled_from([None, {}, {"duration": "5s"}, {"duration": "20s"}]))
        steps.append({"weight": weight} if pause is None else {"weight": weight, "pause": pause})
    rollout: dict[str, Any] = {"steps": steps, "progressDeadlineSeconds": 60}
    if draw(st.booleans()):
        rollout["analysis"] = {
            "intervalSeconds": draw(st.sampled_from([5, 10])),
            "minRequests": draw(st.sampled_from([1, 20, 500])),
            "maxErrorRate": 0.1,
            "failureLimit": draw(st.integers(0, 2)),
        }
    return rollout


actions = st.sampled_from(
    [Actions(), Actions(), Actions(), Actions(paused=True), Actions(promote=(1, FULL))]
)


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(1, 8),
    rollout=rollouts(),
    behaviour=st.builds(
        Behaviour, ready=st.booleans(), error_rate=st.sampled_from([0.0, 0.05, 0.5])
    ),
    room=st.sampled_from([None, 0, 1, 3]),
    plan=st.lists(st.tuples(st.sampled_from([1.0, 3.0, 7.0]), actions), max_size=60),
    limit=st.integers(1, 4),
)
def test_rollout_invariants(
    total: int,
    rollout: dict[str, Any],
    behaviour: Behaviour,
    room: int | None,
    plan: list[tuple[float, Actions]],
    limit: int,
) -> None:
    sim = serving(Sim(total=total, rollout=rollout, history_limit=limit), "1.0.0")
    stable = sim.status.stable_revision
    sim.behaviour[V2.revision] = behaviour
    sim.room = None if room is None else Room(room, fits=True)
    for seconds, requested in plan:
        before = sim.status.rollout
        canary_ready = sim.facts().get(V2.revision)
        ready_before = canary_ready.ready if canary_ready else 0
        decision = sim.tick(V2, seconds, requested)
        after = decision.rollout
        history = sim.status.history
        assert len(history) <= limit
        assert [e.at for e in history] == sorted((e.at for e in history), reverse=True)
        if after is None or after.phase not in ("Progressing", "Paused"):
            continue
        # The canary never exceeds its step's weight.
        _, most = rp.split(total, after.step_weight)
        assert decision.replicas.get(V2.revision, 0) <= most
        # Serving capacity: with room, stable pods go only as ready canaries replace them;
        # without room, never below the floor.
        kept = decision.replicas.get(stable, 0)
        assert kept + ready_before >= (total if room is None else rp.floor(total))
        # A failed interval never advances a step (a user's promotion is theirs to make).
        fresh = after.analysis[:1] if after.analysis != (before.analysis if before else []) else []
        if (
            fresh
            and fresh[0].verdict == "Failed"
            and before is not None
            and requested.promote is None
        ):
            assert after.step <= before.step
