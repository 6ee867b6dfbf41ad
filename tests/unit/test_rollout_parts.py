"""The rollout's pure parts: user actions, analysis verdicts, GPU room (unit world: pure)."""

from typing import Any

import pytest

from ferry.api.rollout import Analysis, Rollout
from ferry.health.stats import PodStats, RequestStats
from ferry.rollout.actions import ABORT, FULL, PAUSE, PROMOTE, RETRY, promote_value, read_actions
from ferry.rollout.analysis import Figures, figures, judge
from ferry.rollout.capacity import Room, room_for
from ferry.rollout.replicas import floor, split
from ferry.rollout.steps import effective_steps

pytestmark = pytest.mark.unit


def test_actions_apply_only_to_the_revision_and_attempt_they_name() -> None:
    annotations = {PROMOTE: "abc/3/2", ABORT: "abc/1", RETRY: "abc/3", PAUSE: "abc"}
    mine = read_actions(annotations, "abc")
    assert (mine.promote, mine.abort_attempt, mine.retry_attempt, mine.paused) == (
        (3, 2), 1, 3, True,
    )  # fmt: skip
    assert mine.promotes(3, 2)
    assert not mine.promotes(2, 2)  # an earlier attempt's promotion is stale
    stale = read_actions(annotations, "xyz")
    assert (stale.promote, stale.abort_attempt, stale.paused) == (None, None, False)
    assert read_actions({PROMOTE: "abc/1/full"}, "abc").promotes_full(1)
    for bad in ("abc/soon", "abc/1/soon", "abc/2", "abc/x/1"):
        assert read_actions({PROMOTE: bad}, "abc").promote is None
    assert promote_value("abc", 3, 2) == "abc/3/2"
    assert promote_value("abc", 3, FULL) == "abc/3/full"


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [(4, 25, (3, 1)), (4, 10, (3, 1)), (3, 50, (1, 2)), (4, 100, (0, 4)), (0, 50, (0, 0)),
     (10, 1, (9, 1))],
)  # fmt: skip
def test_split_rounds_the_canary_up_and_gives_it_at_least_one(
    total: int, weight: int, expected: tuple[int, int]
) -> None:
    assert split(total, weight) == expected


def test_the_floor_leaves_room_for_one_pod_even_when_small() -> None:
    assert [floor(n) for n in (1, 2, 4, 8)] == [0, 1, 3, 6]


def test_steps_always_end_at_the_whole_new_revision() -> None:
    assert [s.weight for s in effective_steps(Rollout())] == [100]
    steps = Rollout.model_validate({"steps": [{"weight": 10}, {"weight": 50}]})
    assert [s.weight for s in effective_steps(steps)] == [10, 50, 100]


def stats(total: int, errors: int = 0, latency_ms: float = 0.0) -> PodStats:
    requests = RequestStats(total=total, errors5xx=errors)
    return PodStats(
        model="m", version="1", requests=requests, latency_micros_sum=latency_ms * 1000 * total
    )


def test_figures_sum_pod_deltas_and_count_a_restarted_pod_from_zero() -> None:
    before = {"a": stats(100, 1), "b": stats(500, 5)}
    after = {"a": stats(150, 6), "b": stats(20, 2), "c": stats(10)}  # b restarted, c is new
    got = figures(before, after, 10)
    assert (got.requests, got.errors) == (50 + 20 + 10, 5 + 2)


SPEC = Analysis(minRequests=50, maxErrorRate=0.01, maxMeanLatencyMs=200)


@pytest.mark.parametrize(
    ("canary", "verdict", "says"),
    [
        (Figures(20, 10, 100.0), "Inconclusive", "20 canary requests"),
        (Figures(143, 30, 143 * 10.0), "Failed", "error rate 0.21 over 143 requests > 0.01"),
        (Figures(100, 0, 100 * 350.0), "Failed", "mean latency 350.0ms over 100 requests > 200ms"),
        (Figures(100, 1, 100 * 20.0), "Passed", "within the thresholds"),
    ],
)
def test_verdicts_carry_their_numbers(canary: Figures, verdict: str, says: str) -> None:
    judgement = judge(SPEC, canary, None)
    assert judgement.verdict == verdict
    assert says in judgement.message


def test_relative_thresholds_compare_with_the_stable_revision() -> None:
    spec = Analysis(minRequests=10, maxErrorRateIncrease=0.02, maxMeanLatencyRatio=1.5)
    assert judge(spec, Figures(100, 5, 1000.0), Figures(100, 4, 1000.0)).verdict == "Passed"
    worse = judge(spec, Figures(100, 9, 1000.0), Figures(100, 4, 1000.0))
    assert worse.verdict == "Failed"
    assert "exceeds the stable revision's 0.04 by more than 0.02" in worse.message
    slower = judge(spec, Figures(100, 4, 2000.0), Figures(100, 4, 1000.0))
    assert "more than 1.5x the stable revision's 10.0ms" in slower.message
    assert judge(spec, Figures(100, 4, 2000.0), Figures(3, 0, 30.0)).verdict == "Inconclusive"


def test_an_analysis_without_thresholds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one of maxErrorRate"):
        Analysis(minRequests=10)


def node(name: str, gpus: int, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": extra.pop("labels", {})},
        "spec": extra,
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def gpu_pod(node_name: str, gpus: int, **metadata: Any) -> dict[str, Any]:
    limits = {"nvidia.com/gpu": str(gpus)}
    return {
        "metadata": {"name": f"p-{node_name}-{gpus}", **metadata},
        "spec": {"nodeName": node_name, "containers": [{"resources": {"limits": limits}}]},
        "status": {"phase": "Running"},
    }


def test_gpu_room_counts_whole_pods_per_node_and_frees_pods_being_deleted() -> None:
    nodes = [node("a", 8), node("b", 8), node("cpu", 0)]
    pods = [gpu_pod("a", 6), gpu_pod("b", 2), gpu_pod("b", 4, deletionTimestamp="now")]
    room = room_for(nodes, pods, resource="nvidia.com/gpu", per_pod=4, pod_spec={})
    assert room == Room(
        slots=0 + 1, fits=True
    )  # a has 2 free, b has 6 free (the deleting pod's 4 count as free)


def test_gpu_room_respects_node_selectors_and_taints() -> None:
    tainted = node("t", 8, taints=[{"key": "gpu", "value": "x", "effect": "NoSchedule"}])
    labelled = node("l", 8, labels={"pool": "a100"})
    nodes = [tainted, labelled, node("other", 8, unschedulable=True)]
    spec = {"nodeSelector": {"pool": "a100"}}
    assert room_for(nodes, [], resource="nvidia.com/gpu", per_pod=8, pod_spec=spec).slots == 1
    tolerant = {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    assert room_for(nodes, [], resource="nvidia.com/gpu", per_pod=8, pod_spec=tolerant).slots == 2
    too_big = room_for(nodes, [], resource="nvidia.com/gpu", per_pod=16, pod_spec=tolerant)
    assert too_big == Room(slots=0, fits=False)  # no node could hold one, even empty
