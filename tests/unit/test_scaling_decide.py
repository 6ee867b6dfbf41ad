"""The autoscaling decision over plain data: HPA's algorithm, its memory, GPUs, the reasons."""

from datetime import UTC, datetime, timedelta

import pytest

from ferry.scaling.decide import Decision, GpuRoom, decide
from ferry.scaling.memory import MEMORY_LIMIT, Memory, Recommendation, ScaleEvent
from ferry.scaling.policy import Metric, Policy, Rules
from ferry.scaling.proposal import PodSample

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UP = Rules(stabilization_seconds=0, max_step_percent=100)  # the defaults
DOWN = Rules(stabilization_seconds=300, max_step_percent=50)
FAST = Rules(stabilization_seconds=0, max_step_percent=100)  # a scale-down without a window


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ready(*values: float) -> list[PodSample]:
    return [PodSample(ready=True, value=v) for v in values]


def not_ready(n: int) -> list[PodSample]:
    return [PodSample(ready=False, value=None)] * n


def unmeasured(n: int) -> list[PodSample]:
    return [PodSample(ready=True, value=None)] * n


def policy(
    metric: Metric = "concurrency",
    target: float = 4,
    *,
    min_replicas: int = 1,
    max_replicas: int = 10,
    scale_up: Rules = UP,
    scale_down: Rules = DOWN,
) -> Policy:
    return Policy(min_replicas, max_replicas, metric, target, 0.1, scale_up, scale_down)


def once(p: Policy, current: int, pods: list[PodSample]) -> Decision:
    """One evaluation with nothing remembered (no window holds anything yet)."""
    return decide(p, current=current, pods=pods, now=T0, memory=Memory())


def test_a_ratio_outside_the_tolerance_band_scales_to_ceil_of_ratio_times_pods() -> None:
    decision = once(policy(scale_up=Rules(0, 200)), 2, ready(9.2, 9.2))
    assert (decision.desired, decision.metric_value, decision.changed) == (5, 9.2, True)
    assert decision.reason == "concurrency 9.2 per replica > target 4 (tolerance 10%): 2 -> 5"


def test_inside_the_tolerance_band_nothing_moves() -> None:
    assert once(policy(), 2, ready(4.4, 4.4)).desired == 2  # ratio 1.1: the band is inclusive
    held = once(policy(scale_down=FAST), 2, ready(3.61, 3.61))
    assert (held.desired, held.changed) == (2, False)
    assert (
        held.reason == "concurrency 3.61 per replica within tolerance 10% of target 4: stays at 2"
    )
    assert once(policy(), 2, ready(4.5, 4.5)).desired == 3  # ratio 1.125: ceil(2.25)


def test_requests_per_second_and_queue_time_are_means_over_ready_pods() -> None:
    rps = once(policy("requestsPerSecond", 20), 3, ready(30, 30, 60))  # 120 rps / 3 pods
    assert (rps.desired, rps.metric_value) == (6, 40)
    assert rps.reason.startswith("requestsPerSecond 40 per replica > target 20")
    queue = once(policy("queueTimeMs", 50), 2, ready(100, 50))
    assert (queue.desired, queue.metric_value) == (3, 75)


def test_not_ready_pods_count_as_idle_so_a_scale_up_does_not_compound() -> None:
    # Two pods carry 8.6 each while the two pods the last scale-up added still load: spread
    # over all four, that is 4.3 per replica, inside the band. Nothing more is added.
    loading = once(policy(), 4, ready(8.6, 8.6) + not_ready(2))
    assert (loading.desired, loading.changed) == (4, False)
    assert "counting 2 pods not ready as 0" in loading.reason
    # More load than four pods can carry: six, not ceil(3 x 4) = 12.
    assert once(policy(scale_up=Rules(0, 200)), 4, ready(12, 12) + not_ready(2)).desired == 6


def test_not_ready_pods_are_left_out_of_a_scale_down() -> None:
    decision = once(policy(scale_down=FAST), 4, ready(1, 1) + not_ready(2))
    assert decision.desired == 1  # ceil(0.25 x 2 measured pods)
    assert "not ready" not in decision.reason


def test_pods_without_a_value_count_as_idle_up_and_as_on_target_down() -> None:
    up = once(policy(), 3, ready(8, 8) + unmeasured(1))  # (8 + 8 + 0) / 3 = 5.33
    assert up.desired == 4
    assert "counting 1 pod without a value as 0" in up.reason
    down = once(policy(scale_down=FAST), 4, ready(1, 1) + unmeasured(2))  # (1+1+4+4) / 4
    assert down.desired == 3
    assert "counting 2 pods without a value as target" in down.reason
    # Counting the unmeasured pod as idle reverses the direction: hold instead.
    assert once(policy(), 3, ready(5, 5) + unmeasured(1)).desired == 3


def test_without_any_value_from_a_ready_pod_the_count_holds() -> None:
    decision = once(policy(), 3, not_ready(2) + unmeasured(1))
    assert (decision.desired, decision.metric_value) == (3, None)
    assert decision.reason == "no concurrency value from a ready pod yet: stays at 3"


def test_min_and_max_bound_the_count() -> None:
    assert once(policy(max_replicas=6, scale_up=Rules(0, 900)), 2, ready(40, 40)).reason == (
        "concurrency 40 per replica > target 4 (tolerance 10%); limited by maxReplicas 6: 2 -> 6"
    )
    floor = once(policy(min_replicas=2, scale_down=FAST), 3, ready(0, 0, 0))
    assert floor.desired == 2
    assert "held at minReplicas 2" in floor.reason
    # A count outside the bounds (a new object, an edited policy) goes straight to them.
    assert once(policy(min_replicas=2), 0, []).reason == "below minReplicas 2: 0 -> 2"
    assert once(policy(max_replicas=4), 9, ready(1)).reason == "above maxReplicas 4: 9 -> 4"


def test_scale_up_steps_are_limited_per_period_not_per_evaluation() -> None:
    p = policy()  # scale-up: at most +100 % per 15 s
    first = decide(p, current=2, pods=ready(20, 20), now=at(0), memory=None)
    assert first.desired == 4
    assert "scale-up limited to 100% per 15s" in first.reason
    # Evaluating again within the period (pod events, spec changes) adds nothing.
    memory = first.memory
    for second in (5, 10, 14):
        again = decide(p, current=4, pods=ready(20, 20, 20, 20), now=at(second), memory=memory)
        assert (again.desired, again.changed) == (4, False)
        memory = again.memory
    later = decide(p, current=4, pods=ready(20, 20, 20, 20), now=at(16), memory=memory)
    assert later.desired == 8


def test_scale_down_waits_for_its_window_then_steps_down() -> None:
    p = policy()  # scale-down: 300 s window, at most -50 % per 15 s
    memory = None
    for second in range(0, 300, 10):  # load fell right after the last scale-up to 8
        decision = decide(
            p,
            current=8,
            pods=ready(*[4.0] * 8 if second == 0 else [0.5] * 8),
            now=at(second),
            memory=memory,
        )
        assert decision.desired == 8
        memory = decision.memory
    assert decision.reason == (
        "concurrency 0.5 per replica < target 4 (tolerance 10%);"
        " scale-down held by stabilization window (300s): stays at 8"
    )
    counts = []
    current = 8
    for second in (300, 310, 316, 332, 348):
        decision = decide(
            p, current=current, pods=ready(*[0.5] * current), now=at(second), memory=memory
        )
        current, memory = decision.desired, decision.memory
        counts.append(current)
    assert counts == [4, 4, 2, 1, 1]


def test_scale_down_holds_at_the_highest_recommendation_of_its_window() -> None:
    history = Memory(
        recommendations=(
            Recommendation(at(0), 8),
            Recommendation(at(100), 6),
            Recommendation(at(200), 3),
        )
    )
    decision = decide(policy(), current=8, pods=ready(*[0.1] * 8), now=at(350), memory=history)
    assert decision.desired == 6  # 8 left the window; 6 is the highest still in it
    assert decision.reason.endswith("scale-down held by stabilization window (300s): 8 -> 6")


def test_scale_up_holds_at_the_lowest_recommendation_of_its_window() -> None:
    p = policy(scale_up=Rules(60, 100))
    history = Memory(recommendations=(Recommendation(at(-10), 2),))  # quiet 10 s ago
    spike = decide(p, current=2, pods=ready(16, 16), now=at(0), memory=history)
    assert (spike.desired, spike.changed) == (2, False)
    assert "scale-up held by stabilization window (60s)" in spike.reason
    sustained = decide(p, current=2, pods=ready(16, 16), now=at(49), memory=spike.memory)
    assert sustained.desired == 2
    # The quiet recommendation has left the window: every one left asks for 8.
    after = decide(p, current=2, pods=ready(16, 16), now=at(51), memory=sustained.memory)
    assert after.desired == 4  # 8, limited to +100 % per step period


def test_a_fresh_or_lost_memory_never_scales_down_at_once() -> None:
    decision = decide(policy(), current=6, pods=ready(*[1.0] * 6), now=at(0), memory=None)
    assert (decision.desired, decision.changed) == (6, False)
    assert "scale-down held by stabilization window (300s)" in decision.reason


def test_gpu_shortfall_caps_the_scale_up_and_does_not_ratchet() -> None:
    p = policy(scale_up=Rules(0, 200))
    gpu = GpuRoom(free=2, per_replica=1, placed=4)
    capped = decide(p, current=4, pods=ready(8, 8, 8, 8), now=at(0), memory=None, gpu=gpu)
    assert (capped.desired, capped.gpu_shortfall) == (6, 2)
    assert "InsufficientGPU: need 2 more nvidia.com/gpu for 8 replicas (2 free)" in capped.reason
    # The two new pods took the last GPUs; the load still asks for eight.
    full = GpuRoom(free=0, per_replica=1, placed=6)
    pods = ready(*[8.0] * 4) + not_ready(2)
    held = decide(p, current=6, pods=pods, now=at(20), memory=capped.memory, gpu=full)
    assert (held.desired, held.changed) == (6, False)
    # Pods still waiting for a node are not counted as room a second time.
    waiting = GpuRoom(free=0, per_replica=2, placed=4, resource="nvidia.com/mig-1g.5gb")
    again = decide(p, current=6, pods=pods, now=at(40), memory=held.memory, gpu=waiting)
    assert again.desired == 6
    assert "need 4 more nvidia.com/mig-1g.5gb for 8 replicas (0 free)" in again.reason
    assert max(r.replicas for r in again.memory.recommendations) == 6
    # A GPU shortfall never takes replicas away, even when fewer than the current fit.
    more = decide(p, current=6, pods=ready(*[5.0] * 6), now=at(60), memory=None, gpu=waiting)
    assert more.desired == 6


def test_memory_keeps_only_what_a_window_can_still_use() -> None:
    p = policy(scale_up=Rules(60, 100))
    memory = Memory()
    for second, replicas in enumerate([5, 5, 5, 7, 3, 3, 6, 4]):
        memory = memory.remember(p, at(second * 10), replicas)
    # Down window: the highest from each point on (7, 6, 4); up window: the lowest (3, 4).
    assert [(r.at, r.replicas) for r in memory.recommendations] == [
        (at(30), 7),
        (at(50), 3),
        (at(60), 6),
        (at(70), 4),
    ]
    assert memory.remember(p, at(1000), 2).recommendations == (Recommendation(at(1000), 2),)
    events = Memory(scale_events=(ScaleEvent(at(0), 2),)).scaled(at(20), -1).scale_events
    assert events == (ScaleEvent(at(20), -1),)  # outside the 15 s step period: gone


def test_memory_stays_bounded_and_errs_towards_holding_replicas() -> None:
    p = policy()
    memory = Memory()
    for step in range(3 * MEMORY_LIMIT):  # every evaluation lower than the one before
        memory = memory.remember(p, at(step), 3 * MEMORY_LIMIT - step)
    assert len(memory.recommendations) == MEMORY_LIMIT
    highest = memory.stabilized(p, at(3 * MEMORY_LIMIT), 10**6, 0)
    assert highest == 3 * MEMORY_LIMIT  # the first one still holds, if a little longer


def test_policy_defaults_are_the_apis() -> None:
    defaults = Policy(min_replicas=1, max_replicas=8, metric="concurrency", target=4)
    assert (defaults.tolerance, defaults.scale_up, defaults.scale_down) == (0.1, UP, DOWN)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"min_replicas": 0}, "minReplicas must be at least 1"),
        ({"max_replicas": 0}, "maxReplicas must be >= minReplicas"),
        ({"target": 0}, "target must be greater than 0"),
        ({"scale_down": Rules(300, 150)}, "scaleDown.maxStepPercent must be in [1, 100]"),
        ({"scale_up": Rules(-1, 100)}, "scaleUp.stabilizationSeconds < 0"),
    ],
)
def test_a_nonsense_policy_names_the_field(arguments: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"min_replicas": 1, "max_replicas": 4, "target": 4.0}
    with pytest.raises(ValueError, match="spec.autoscaling: .*" + message.replace("[", r"\[")):
        Policy(metric="concurrency", **{**values, **arguments})  # type: ignore[arg-type]
