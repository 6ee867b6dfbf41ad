"""Properties of the autoscaling decision over generated policies, loads and histories.

Each sequence carries the memory from one evaluation to the next through JSON, as status
does, and the count the workloads are sized to follows the decisions.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.scaling.decide import Decision, GpuRoom, decide
from ferry.scaling.policy import METRICS, STEP_PERIOD_SECONDS, Policy, Rules
from ferry.scaling.proposal import PodSample, propose

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Windows that hold nothing are common, or a window would hide what the other rules do.
windows = st.just(0) | st.integers(0, 600)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    low = draw(st.integers(1, 5))
    return Policy(
        min_replicas=low,
        max_replicas=low + draw(st.integers(0, 20)),
        metric=draw(st.sampled_from(METRICS)),
        target=draw(st.floats(0.5, 200)),
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
        scale_up=Rules(draw(windows), draw(st.integers(1, 400))),
        scale_down=Rules(draw(windows), draw(st.integers(1, 100))),
    )


@dataclass(frozen=True)
class Load:
    """One evaluation: seconds since the previous one, and the pods it sees."""

    gap: float
    factor: float  # each measured pod's value, as a multiple of the target
    not_ready: int
    unmeasured: int

    def pods(self, policy: Policy, measured: int) -> list[PodSample]:
        value = self.factor * policy.target
        return (
            [PodSample(ready=True, value=value)] * measured
            + [PodSample(ready=False, value=None)] * self.not_ready
            + [PodSample(ready=True, value=None)] * self.unmeasured
        )


loads = st.builds(
    Load,
    gap=st.floats(0.5, 120),
    factor=st.floats(0, 6),
    not_ready=st.integers(0, 3),
    unmeasured=st.integers(0, 2),
)
gpus = st.none() | st.builds(
    GpuRoom, free=st.integers(0, 8), per_replica=st.integers(1, 4), placed=st.integers(0, 20)
)


@dataclass(frozen=True)
class Step:
    now: datetime
    current: int
    pods: list[PodSample]
    decision: Decision


def evaluations(
    policy: Policy, start: int, sequence: list[Load], gpu: GpuRoom | None = None
) -> Iterator[Step]:
    current, memory, now = start, None, T0
    for load in sequence:
        now += timedelta(seconds=load.gap)
        # The pods that report are the ones the count asked for, minus those still loading.
        pods = load.pods(policy, measured=max(current - load.not_ready - load.unmeasured, 0))
        decision = decide(policy, current=current, pods=pods, now=now, memory=memory, gpu=gpu)
        yield Step(now, current, pods, decision)
        current = decision.desired
        memory = decision.memory
        assert memory == decision.memory


@settings(deadline=None)
@given(policies(), st.integers(0, 30), st.lists(loads, min_size=1, max_size=12), gpus)
def test_never_outside_min_and_max(
    policy: Policy, start: int, sequence: list[Load], gpu: GpuRoom | None
) -> None:
    for step in evaluations(policy, start, sequence, gpu):
        assert policy.min_replicas <= step.decision.desired <= policy.max_replicas
        assert step.decision.changed == (step.decision.desired != step.current)


@settings(deadline=None)
@given(
    policies(),
    st.integers(0, 25),
    st.lists(loads, max_size=8),
    st.lists(st.floats(-0.999, 0.999), min_size=1, max_size=8),
    st.integers(0, 3),
    st.integers(0, 3),
    gpus,
)
def test_no_change_inside_the_tolerance_band(
    policy: Policy,
    start: int,
    history: list[Load],
    offsets: list[float],
    not_ready: int,
    unmeasured: int,
    gpu: GpuRoom | None,
) -> None:
    """Whatever came before, pods whose mean is within the band move nothing."""
    memory, now, current = None, T0, policy.bounded(start)
    for step in evaluations(policy, current, history):
        memory, now, current = step.decision.memory, step.now, step.decision.desired
    values = [
        policy.target * (1 + offsets[i % len(offsets)] * policy.tolerance) for i in range(current)
    ]
    pods = (
        [PodSample(ready=True, value=v) for v in values]
        + [PodSample(ready=False, value=None)] * not_ready
        + [PodSample(ready=True, value=None)] * unmeasured
    )
    decision = decide(
        policy, current=current, pods=pods, now=now + timedelta(seconds=10), memory=memory, gpu=gpu
    )
    assert (decision.desired, decision.changed) == (current, False)


@settings(deadline=None)
@given(
    policies(),
    st.integers(1, 25),
    st.lists(loads, min_size=1, max_size=15),
    st.booleans(),
)
def test_scale_down_is_never_faster_than_its_window(
    policy: Policy, start: int, sequence: list[Load], falling: bool
) -> None:
    """The count never drops below the highest count the load asked for within the
    scale-down window (nor, at first, below the count it started from)."""
    if falling:
        factors = sorted((load.factor for load in sequence), reverse=True)
        sequence = [replace(load, factor=f) for load, f in zip(sequence, factors, strict=True)]
    start = policy.bounded(start)
    window = timedelta(seconds=policy.scale_down.stabilization_seconds)
    first = T0 + timedelta(seconds=sequence[0].gap)
    asked: list[tuple[datetime, int]] = [(first, start)] if window else []
    for step in evaluations(policy, start, sequence):
        proposal = propose(policy, step.current, step.pods)
        if proposal is not None:
            asked.append((step.now, policy.bounded(proposal.replicas)))
        recent = [replicas for at, replicas in asked if at > step.now - window or at == step.now]
        assert step.decision.desired >= min(step.current, max(recent, default=0))


@settings(deadline=None)
@given(policies(), st.integers(1, 25), st.lists(loads, min_size=1, max_size=15))
def test_steps_never_exceed_their_percentage_of_the_count_a_period_ago(
    policy: Policy, start: int, sequence: list[Load]
) -> None:
    start = policy.bounded(start)
    counts: list[tuple[datetime, int]] = [(T0, start)]  # the count in effect from each time
    for step in evaluations(policy, start, sequence):
        cutoff = step.now - timedelta(seconds=STEP_PERIOD_SECONDS)
        before = [count for at, count in counts if at <= cutoff]
        period_start = before[-1] if before else start
        desired = step.decision.desired
        if desired > step.current:
            grow = math.ceil(period_start * (100 + policy.scale_up.max_step_percent) / 100)
            assert desired <= max(grow, step.current)
        elif desired < step.current:
            shrink = period_start * (100 - policy.scale_down.max_step_percent) // 100
            assert desired >= min(shrink, step.current)
        counts.append((step.now, desired))
