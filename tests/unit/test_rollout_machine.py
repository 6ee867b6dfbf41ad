"""The rollout machine over a simulated world (unit world: pure)."""

import pytest

from ferry.reconcile.failure import Failure
from ferry.rollout.actions import FULL, Actions
from ferry.rollout.capacity import Room
from tests.unit.rollout_sim import Behaviour, Sim, serving, target

pytestmark = pytest.mark.unit

V1, V2, V3 = target("1.0.0"), target("2.0.0"), target("3.0.0")
STEPS = [{"weight": 25, "pause": {"duration": "30s"}}, {"weight": 50, "pause": {"duration": "30s"}}]
ANALYSIS = {"intervalSeconds": 10, "minRequests": 20, "maxErrorRate": 0.05}


def replicas(sim: Sim) -> tuple[int, int]:
    """(stable, canary) replicas as last decided."""
    return sim.desired[V1.revision], sim.desired[V2.revision]


def test_timed_steps_advance_in_order_with_the_right_replicas() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS}), "1.0.0")
    seen = []
    for _ in range(70):
        sim.tick(V2)
        seen.append(replicas(sim))
        if sim.status.stable_revision == V2.revision:
            break
    # Canaries first, then stable pods go one for one as canaries answer; never a gap.
    assert list(dict.fromkeys(seen)) == [(4, 1), (3, 1), (3, 2), (2, 2), (2, 4), (0, 4)]
    assert sim.status.stable_revision == V2.revision
    assert sim.status.history[0].outcome == "Promoted"
    assert sim.events() == ["RolloutStarted", "StepReached", "StepReached", "Promoted"]
    assert 60 <= (sim.now - sim.decisions[0].rollout.started_at).total_seconds() <= 64  # type: ignore[union-attr]


def test_an_indefinite_pause_holds_until_promoted() -> None:
    sim = serving(Sim(total=2, rollout={"steps": [{"weight": 50, "pause": {}}]}), "1.0.0")
    decision = sim.run(V2, 600)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.step) == ("Paused", 1)
    assert replicas(sim) == (1, 1)
    assert "RolloutPaused" in sim.events()
    promote = Actions(promote=(1, 1))
    sim.tick(V2, actions=promote)
    sim.tick(V2, actions=promote)  # the annotation stays; it names step 1, now stale
    sim.tick(V2, actions=promote)
    assert sim.status.stable_revision == V2.revision


def test_a_stale_promotion_does_not_skip_a_later_pause() -> None:
    steps = [{"weight": 25, "pause": {}}, {"weight": 50, "pause": {}}]
    sim = serving(Sim(total=4, rollout={"steps": steps}), "1.0.0")
    sim.run(V2, 5)
    for _ in range(5):
        sim.tick(V2, actions=Actions(promote=(1, 1)))
    assert sim.status.rollout is not None
    assert (sim.status.rollout.step, sim.status.rollout.phase) == (2, "Paused")


def test_promote_full_skips_every_remaining_step() -> None:
    steps = [{"weight": 10, "pause": {}}, {"weight": 50, "pause": {}}]
    sim = serving(Sim(total=4, rollout={"steps": steps}), "1.0.0")
    sim.run(V2, 5)
    for _ in range(4):
        sim.tick(V2, actions=Actions(promote=(1, FULL)))
    assert sim.status.stable_revision == V2.revision
    assert "RolloutPromotedFull" in sim.events()


def test_abort_returns_to_stable_and_stays_until_retried() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS}), "1.0.0")
    sim.run(V2, 5)
    abort = Actions(abort_attempt=1)
    for _ in range(30):
        decision = sim.tick(V2, actions=abort)
    assert replicas(sim) == (4, 0)
    assert decision.rollout is not None
    assert decision.rollout.phase == "Aborted"
    assert sim.status.history[0].outcome == "Aborted"
    assert sim.events().count("Aborted") == 1  # level-based: one event, not one per reconcile
    retry = Actions(abort_attempt=1, retry_attempt=2)  # a stale abort names attempt 1
    sim.tick(V2, actions=retry)
    assert sim.status.rollout is not None
    assert (sim.status.rollout.phase, sim.status.rollout.attempt) == ("Progressing", 2)
    assert sim.desired[V2.revision] == 1


def test_failing_analysis_rolls_back_within_its_bound() -> None:
    rollout = {"steps": STEPS, "analysis": {**ANALYSIS, "failureLimit": 1}}
    sim = serving(Sim(total=4, rollout=rollout), "1.0.0")
    sim.behaviour[V2.revision] = Behaviour(error_rate=0.4)
    decision = sim.run(V2, 40)
    assert replicas(sim) == (4, 0)
    assert decision.rollout is not None
    assert decision.rollout.phase == "RolledBack"
    assert decision.rollout.reason == "AnalysisFailed"
    assert "error rate 0.4 over 50 requests" in decision.rollout.message
    assert "> 0.05" in decision.rollout.message
    assert sim.events().count("AnalysisIntervalFailed") == 1  # the tolerated one
    taken_traffic = next(d for d in sim.decisions if d.route_weight > 0).rollout
    assert taken_traffic is not None
    took = (decision.rollout.progress_at - taken_traffic.started_at).total_seconds()
    assert took <= 10 * (1 + 1) + 3  # interval x (failureLimit + 1) + reconcile slack


def test_slow_canary_is_rolled_back_with_a_latency_reason() -> None:
    analysis = {"intervalSeconds": 10, "minRequests": 20, "maxMeanLatencyMs": 100}
    sim = serving(Sim(total=2, rollout={"steps": STEPS, "analysis": analysis}), "1.0.0")
    sim.behaviour[V2.revision] = Behaviour(latency_ms=450)
    decision = sim.run(V2, 30)
    assert decision.rollout is not None
    assert decision.rollout.reason == "AnalysisFailed"
    assert "mean latency 450.0ms" in decision.rollout.message


def test_too_little_traffic_holds_and_says_so_then_hits_the_deadline() -> None:
    rollout = {"steps": [{"weight": 50}], "analysis": ANALYSIS, "progressDeadlineSeconds": 60}
    sim = serving(Sim(total=2, rollout=rollout, requests_per_pod_second=1), "1.0.0")
    decision = sim.run(V2, 40)
    assert decision.rollout is not None
    assert decision.rollout.phase == "Progressing"
    assert "holding: 10 canary requests in the interval" in decision.rollout.message
    assert decision.rollout.step == 1
    decision = sim.run(V2, 30)
    assert decision.rollout is not None
    assert decision.rollout.reason == "ProgressDeadlineExceeded"
    assert replicas(sim) == (2, 0)


def test_a_canary_that_never_answers_costs_no_stable_pod_and_rolls_back_at_the_deadline() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS, "progressDeadlineSeconds": 60}), "1.0.0")
    sim.behaviour[V2.revision] = Behaviour(ready=False)
    for _ in range(59):
        sim.tick(V2)
        assert replicas(sim) == (4, 1)
    decision = sim.run(V2, 3)
    assert decision.rollout is not None
    assert decision.rollout.reason == "ProgressDeadlineExceeded"
    assert replicas(sim) == (4, 0)


def test_a_canary_that_fails_verification_is_rolled_back_at_once() -> None:
    sim = serving(Sim(total=2, rollout={"steps": STEPS}), "1.0.0")
    mismatch = Failure("ArtifactChecksumMismatch", "pod x: fetch failed: sha256 mismatch")
    sim.behaviour[V2.revision] = Behaviour(failure=mismatch)
    sim.tick(V2)
    decision = sim.tick(V2)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.reason) == (
        "RolledBack",
        "ArtifactChecksumMismatch",
    )
    assert replicas(sim) == (2, 0)
    assert sim.status.history[0].outcome == "RolledBack"


def test_setting_the_version_back_mid_canary_drops_the_canary_at_once() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS, "analysis": ANALYSIS}), "1.0.0")
    sim.run(V2, 5)
    decision = sim.tick(V1)
    assert dict(decision.replicas) == {V1.revision: 4}
    assert decision.rollout is None
    assert sim.status.history[0].outcome == "Superseded"
    assert sim.events()[-1] == "RolloutReverted"


def test_rolling_back_to_a_promoted_revision_skips_steps_and_analysis() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS, "analysis": ANALYSIS}), "1.0.0")
    sim.run(V2, 200)
    assert sim.status.stable_revision == V2.revision
    sim.decisions.clear()
    sim.run(V1, 3)
    assert sim.status.stable_revision == V1.revision
    assert sim.status.history[0].reason == "rolled back to a known-good revision"
    assert "StepReached" in sim.events()  # one step: straight to 100 %


def test_a_new_version_mid_rollout_supersedes_the_canary() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS}), "1.0.0")
    sim.run(V2, 5)
    sim.tick(V3)
    assert sim.status.history[0].outcome == "Superseded"
    assert sim.status.history[0].revision == V2.revision
    assert sim.desired[V2.revision] == 0
    assert sim.desired[V3.revision] == 1


def test_without_room_the_stable_steps_down_first_but_never_below_its_floor() -> None:
    sim = serving(Sim(total=4, rollout={"steps": STEPS}), "1.0.0")
    sim.room = Room(0, fits=True)  # every GPU is taken
    sim.behaviour[V2.revision] = Behaviour(ready=False)
    for _ in range(20):
        sim.tick(V2)
        stable, _ = replicas(sim)
        assert stable >= 3  # floor: 4 - max(1, 25 % of 4)
    assert replicas(sim) == (3, 1)


def test_a_model_filling_every_gpu_still_rolls_out() -> None:
    sim = serving(Sim(total=1, rollout={}), "1.0.0")
    sim.room = Room(0, fits=True)
    sim.run(V2, 5)
    assert sim.status.stable_revision == V2.revision


def test_a_new_version_at_zero_replicas_has_nothing_to_try_and_becomes_stable() -> None:
    sim = serving(Sim(total=2, rollout={"steps": STEPS}), "1.0.0")
    sim.total = 0
    sim.tick(V2)
    assert sim.status.stable_revision == V2.revision
    assert sim.status.rollout is None
    assert sim.status.history[0].reason == "no replicas to try it on (0 wanted)"


def test_a_promote_left_from_an_aborted_attempt_does_not_act_on_the_retry() -> None:
    steps = [{"weight": 25, "pause": {}}, {"weight": 50, "pause": {}}]
    sim = serving(Sim(total=4, rollout={"steps": steps}), "1.0.0")
    sim.run(V2, 3)
    sim.run(V2, 3, actions=Actions(promote=(1, 1)))
    sim.run(V2, 3, actions=Actions(promote=(1, 1), abort_attempt=1))
    retried = Actions(promote=(1, 1), abort_attempt=1, retry_attempt=2)
    decision = sim.run(V2, 5, actions=retried)
    assert decision.rollout is not None
    assert (decision.rollout.attempt, decision.rollout.step, decision.rollout.phase) == (
        2, 1, "Paused",
    )  # fmt: skip


def test_each_rollout_of_a_revision_gets_a_new_attempt_number() -> None:
    sim = serving(Sim(total=2, rollout={"steps": STEPS}), "1.0.0")
    sim.run(V2, 3)
    sim.tick(V1)  # set back: the canary is superseded
    decision = sim.run(V2, 3)
    assert decision.rollout is not None
    assert decision.rollout.attempt == 2  # an action naming attempt 1 is stale


def test_a_canary_no_node_could_ever_hold_costs_the_stable_nothing() -> None:
    sim = serving(Sim(total=2, rollout={"progressDeadlineSeconds": 30}), "1.0.0")
    sim.room = Room(0, fits=False)  # more GPUs per pod than any eligible node has
    sim.behaviour[V2.revision] = Behaviour(ready=False)
    for _ in range(29):
        sim.tick(V2)
        assert replicas(sim) == (2, 2)  # the stable keeps everything; the canary waits
    decision = sim.run(V2, 3)
    assert decision.rollout is not None
    assert decision.rollout.reason == "ProgressDeadlineExceeded"
