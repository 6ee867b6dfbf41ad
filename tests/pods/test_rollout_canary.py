"""Canary rollouts on real pods, analysed on the model's own metrics (each pod agent's
counters): bad versions are rolled back and say why with the numbers, too little traffic
gives no verdict and says so, a good version is promoted step by step. A load loop through
the Service's ClusterIP runs the whole time, and what its requests saw is what the
assertions are about.

Steps: 50 % with a 15 s pause (one canary pod beside one stable pod of two replicas), then
the implicit 100 %; analysis every 10 s must pass before the 50 % step is left.

- `flaky` (every 4th request 500) at 50 %: rolled back by the error rate; the errors the
  clients saw stay within the canary's share of the traffic, and stop with the canary;
- `slow` (0.2 s per forward pass): rolled back by the mean latency;
- a good v2 under a trickle of traffic (below `minRequests` per interval): holds at its step
  with Inconclusive intervals that carry the request count, then rolls back at
  `progressDeadlineSeconds`;
- a good v2 at 10 requests/s: promoted through every step with not one failed request,
  answers from v1, then from both (v2 half of them at 50 %), then from v2 alone;
- the same while the operator is killed at random (R2): promoted after passed intervals, no
  failed request, no duplicate child.

World: the session's local cluster and real node, the operator on the host (it reads the
agents by pod IP), the archives on the host's artifact server. One ModelDeployment serves
the module: each test starts from v1 serving on two pods (set back to v1 if a test left
another version in the spec) and rolls a version out beside it.
"""

import math
import re
import time
from datetime import timedelta
from typing import Any

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import reliability as rel
from tests.cluster import rollouts as r
from tests.cluster.operator_harness import RunningOperator
from tests.pods.artifacts import FAIL_EVERY, SLOW_SECONDS, PodModels
from tests.pods.canary import (
    NAME,
    REPLICAS,
    Stable,
    Trial,
    promoted_to,
    roll_out,
    rolled_back,
    serve_stable,
    settled_on,
)
from tests.pods.load import Response
from tests.pods.serving import RealModels, model_deployment

pytestmark = pytest.mark.pods

PAUSE = 15
INTERVAL = 10
MIN_REQUESTS = 20  # per interval; 10 requests/s at 50 % bring ~50 to the canary
ANALYSIS = {
    "intervalSeconds": INTERVAL,
    "minRequests": MIN_REQUESTS,
    "maxErrorRate": 0.01,
    "maxMeanLatencyMs": 1000,  # generous: only the slow test tightens it
    "failureLimit": 0,
}
STEPS = [{"weight": 50, "pause": {"duration": f"{PAUSE}s"}}]
# Long enough that a canary pod loading on a busy machine is never the reason.
DEADLINE = 150
# R2: kills about 21 and 51 s into the rollout (tests/cluster/reliability.Chaos's schedule
# for this seed; the next at 84 s), while the canary loads and during its step's pause.
CHAOS_SEED = 1990
CHAOS_PAUSE = 60


def rollout(**analysis: Any) -> dict[str, Any]:
    return {
        "steps": STEPS,
        "analysis": {**ANALYSIS, **analysis},
        "progressDeadlineSeconds": DEADLINE,
    }


@pytest.fixture(scope="module")
def stable(cluster: ClusterAccess, pod_models: PodModels, module_models: RealModels) -> Stable:
    return serve_stable(cluster, module_models, pod_models.v1, rollout())


@pytest.fixture
def on_v1(stable: Stable, pod_models: PodModels) -> Stable:
    """The stable v1 as every test starts from it: v1 in the spec (set back to it, as a
    GitOps revert would, when a test left a rolled-back version there; nothing changes when
    it is there already), two ready v1 pods and no other."""
    v1, node = pod_models.v1, stable.cluster.real_node
    stable.models.apply_md(model_deployment(v1, node, NAME, replicas=REPLICAS, rollout=rollout()))
    settled_on(stable, v1.version)
    return stable


def assert_rolled_back(trial: Trial, version: str, reason: str) -> str:
    """Rolled back for `reason`: Degraded says so, one Warning RolledBack, a history entry,
    each with the cause; the stable v1 served on. Returns the cause (`status.rollout.message`)."""
    status = trial.final
    canary, cause = status["rollout"]["revision"], str(status["rollout"]["message"])
    assert status["rollout"]["reason"] == reason, status["rollout"]
    degraded = r.condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reason), degraded
    assert degraded["message"] == (
        f"{cause}; revision {canary} (model {version}) was rolled back, "
        f"{status['stableRevision']} serves"
    ), degraded
    progressing = r.condition(status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolledBack"), progressing
    entry = status["history"][0]
    assert (entry["revision"], entry["version"], entry["outcome"]) == (
        canary, version, "RolledBack",
    ), status["history"]  # fmt: skip
    assert entry["reason"] == f"{reason}: {cause}", entry
    rolled = [e for e in trial.events if e.reason == "RolledBack"]
    assert [e.type for e in rolled] == ["Warning"], trial.events
    assert rolled[0].message.startswith(f"{reason}: {cause}; revision {canary}"), rolled
    # Ready stays True through the rollout. After the rollback the stable revision is back
    # at full size, its second pod loading: until it answers, Ready says 1/2 answer (with two
    # replicas the Deployment's availability rule wants both) and why; then True again.
    ready = [r.condition(s, "Ready") for s in trial.statuses]
    ended = next(i for i, s in enumerate(trial.statuses) if rolled_back(version)(s))
    assert {c["status"] for c in ready[:ended]} == {"True"}, ready[:ended]
    meanwhile = {(c["status"], c["reason"], c["message"]) for c in ready[ended:]}
    assert meanwhile <= {
        ("False", reason, f"1/2 replicas answer: {degraded['message']}"),
        ("True", "Serving", "2/2 replicas answer for model podnet"),
    }, meanwhile
    assert ready[-1]["status"] == "True", ready[-1]
    return cause


def test_a_flaky_canary_is_rolled_back_by_its_error_rate_and_costs_only_its_share(
    on_v1: Stable, pod_models: PodModels
) -> None:
    failure_limit = 1  # one failed interval tolerated, the second rolls back
    trial = roll_out(
        on_v1,
        pod_models.flaky,
        rollout(failureLimit=failure_limit),
        until=rolled_back(pod_models.flaky.version),
        settles_on=pod_models.v1.version,
    )
    cause = assert_rolled_back(trial, pod_models.flaky.version, "AnalysisFailed")
    found = re.fullmatch(r"error rate (\S+) over (\d+) requests > 0\.01", cause)
    assert found, cause
    rate, requests = float(found[1]), int(found[2])
    assert requests >= MIN_REQUESTS, cause
    # Every 4th forward pass of the canary fails, counted by its agent.
    assert abs(rate - 1 / FAIL_EVERY) <= 1 / requests + 0.005, cause

    records = trial.analysis_records
    assert [x["verdict"] for x in records] == ["Failed"] * (failure_limit + 1), records
    assert all(x["requests"] >= MIN_REQUESTS and x["errorRate"] > 0.2 for x in records), records
    warnings = [e.reason for e in trial.events if e.type == "Warning"]
    assert warnings == ["AnalysisIntervalFailed", "RolledBack"], trial.events

    # What the clients saw. The canary took a share of the requests from its first answer
    # to its last (`window`); a quarter of the canary's requests failed. So the failures are
    # at most share x 1/4 x the requests sent in the window, where the share is the largest
    # canary share status recorded (ready canary pods / ready pods; kube-proxy spreads
    # connections evenly over ready endpoints), plus three standard deviations of how many
    # of those requests a random spread brings to the canary. The window itself is the
    # analysis bound: (failureLimit + 1) intervals of 10 s after the weight is reached, plus
    # the canary's first interval baseline and the endpoint removal (about a second each).
    window = trial.canary_window(pod_models)
    share = max(trial.canary_weights()) / 100
    assert share == 0.5, trial.canary_weights()
    sent = len(window)
    spread = 3 * math.sqrt(sent * share * (1 - share))
    bound = math.ceil((share * sent + spread) / FAIL_EVERY)
    failures = trial.load.failures()
    print(f"\nflaky canary: {len(failures)} failed of {sent} requests sent while it answered, "
          f"bound {bound} (share {share}); the rollback: {cause}")  # fmt: skip
    assert 0 < len(failures) <= bound, (len(failures), bound, sent, trial.load.statuses())
    assert {x.status for x in failures} == {500}, failures[:5]  # no connection lost
    assert all(window[0].index <= x.index <= window[-1].index for x in failures)
    # Once the canary stopped answering, every request got v1's answer.
    after = trial.after(window)
    assert len(after) >= 30, len(after)
    assert {trial.answered_by(pod_models, x) for x in after} == {"v1"}, trial.load.statuses()


def test_a_slow_canary_is_rolled_back_by_its_mean_latency(
    on_v1: Stable, pod_models: PodModels
) -> None:
    threshold = 100  # ms; the slow version sleeps 200 ms in every forward pass
    trial = roll_out(
        on_v1,
        pod_models.slow,
        rollout(maxMeanLatencyMs=threshold),
        until=rolled_back(pod_models.slow.version),
        settles_on=pod_models.v1.version,
    )
    cause = assert_rolled_back(trial, pod_models.slow.version, "AnalysisFailed")
    found = re.fullmatch(rf"mean latency (\S+)ms over (\d+) requests > {threshold}ms", cause)
    assert found, cause
    assert float(found[1]) >= SLOW_SECONDS * 1000, cause
    assert int(found[2]) >= MIN_REQUESTS, cause
    assert [x["verdict"] for x in trial.analysis_records] == ["Failed"], trial.analysis_records
    # Slow is not broken: every request was answered, the canary's ones late.
    assert trial.load.failures() == [], trial.load.statuses()
    window = trial.canary_window(pod_models)
    slow = [x for x in window if trial.answered_by(pod_models, x) == "v2"]
    assert slow, trial.load.statuses()
    assert min(x.seconds for x in slow) >= SLOW_SECONDS, slow[:3]
    after = trial.after(window)
    assert {trial.answered_by(pod_models, x) for x in after} == {"v1"}, trial.load.statuses()


def test_too_little_traffic_holds_the_step_says_so_and_rolls_back_at_the_deadline(
    on_v1: Stable, pod_models: PodModels
) -> None:
    """A good v2 at 1 request/s: about 5 canary requests per 10 s interval, below 20."""
    deadline = 30  # the CRD's minimum
    settings: dict[str, Any] = {"steps": [{"weight": 50}], "analysis": ANALYSIS}
    settings["progressDeadlineSeconds"] = deadline
    trial = roll_out(
        on_v1,
        pod_models.v2,
        settings,
        until=rolled_back(pod_models.v2.version),
        settles_on=pod_models.v1.version,
        rate=1,
    )
    # While it held: Inconclusive intervals that carry the canary's request count, and the
    # rollout's message (and Progressing's) saying it holds, and why.
    records = trial.analysis_records
    assert records, trial.statuses
    assert {x["verdict"] for x in records} == {"Inconclusive"}, records
    for record in records:
        assert 0 < record["requests"] < MIN_REQUESTS, record
        assert record["message"] == (
            f"{record['requests']} canary requests in the interval, "
            f"spec.rollout.analysis.minRequests is {MIN_REQUESTS}"
        ), record
    holding = [
        s
        for s in trial.statuses
        if (s.get("rollout") or {}).get("phase") == "Progressing"
        and "holding: " in s["rollout"]["message"]
    ]
    assert holding, [x.get("message") for x in trial.rollouts()]
    message = holding[-1]["rollout"]["message"]
    assert message.startswith("step 1/2: 50% wanted"), message
    assert "canary requests in the interval" in message, message
    assert "holding: " in r.condition(holding[-1], "Progressing")["message"], holding[-1]
    assert (holding[-1]["rollout"]["step"], holding[-1]["canaryWeight"]) == (1, 50), holding[-1]

    cause = assert_rolled_back(trial, pod_models.v2.version, "ProgressDeadlineExceeded")
    assert cause.startswith(
        f"no progress within spec.rollout.progressDeadlineSeconds ({deadline}s): step 1/2"
    ), cause
    assert "holding: " in cause, cause
    # A good version, so the clients saw nothing wrong, from either revision.
    assert trial.load.failures() == [], trial.load.statuses()
    assert {trial.answered_by(pod_models, x) for x in trial.load.responses} == {"v1", "v2"}


def sent_between(trial: Trial, start: str, end: str, *, settle: float = 0) -> list[Response]:
    """The requests sent between two status timestamps, `settle` seconds after the first."""
    began = trial.load.started_at
    low, high = (r.moment(t).timestamp() - began for t in (start, end))
    return [x for x in trial.load.responses if low + settle <= x.sent_at <= high]


def test_a_good_v2_is_promoted_through_every_step_without_one_failed_request(
    on_v1: Stable, pod_models: PodModels
) -> None:
    v1, v2 = pod_models.v1, pod_models.v2
    old = r.status(on_v1.models, NAME)["stableRevision"]
    trial = roll_out(on_v1, v2, rollout(), until=promoted_to(v2.version), settles_on=v2.version)
    status, seen = trial.final, trial.recorder
    new = status["stableRevision"]
    assert new != old, status

    # What the clients saw: every request answered, by v1, then by both, then by v2 alone.
    load = trial.load
    assert load.failures() == [], load.statuses()
    assert len(load.responses) >= 300, load.statuses()
    labels = [trial.answered_by(pod_models, x) for x in load.responses]
    assert None not in labels, [x for x in load.responses if not trial.answered_by(pod_models, x)]
    first_v2, last_v1 = labels.index("v2"), len(labels) - 1 - labels[::-1].index("v1")
    both = labels[first_v2 : last_v1 + 1]
    assert first_v2 >= 50, (first_v2, len(labels))  # v1 alone while the canary pod loads
    assert len(labels) - last_v1 > 20, (last_v1, len(labels))  # v2 alone at the end
    assert min(both.count("v1"), both.count("v2")) >= len(both) / 5, (both.count("v1"), both)

    # Serving capacity never dipped: canary pods first, a stable pod goes only once a canary
    # pod answers (the recorder saw every replica count the API server stored).
    pairs = seen.replica_pairs(old, new)
    # From the canary's first pod on: v2's Deployment may be there at zero since an earlier
    # test rolled v2 back (seen before the stable one: (0, 0), (2, 0)).
    pairs = pairs[next(i for i, (_, canary) in enumerate(pairs) if canary) :]
    assert pairs == [(2, 1), (1, 1), (1, 2), (0, 2)], pairs
    ready = seen.ready_pods(old, new)
    assert min(ready) >= REPLICAS, f"ready pods dipped below {REPLICAS}: {ready}"

    # Status at each step, in order, and as documented once promoted.
    states = seen.rollout_states("step", "phase", "/canaryRevision", "/canaryWeight")
    assert (1, "Progressing", new, 50) in states, states
    steps = [s for s, *_ in states if s is not None]
    assert steps == sorted(steps), states
    assert steps[-1] == 2, states
    assert (status["modelVersion"], status["canaryWeight"], status.get("rollout")) == (
        v2.version, 0, None,
    ), status  # fmt: skip
    history = [(h["revision"], h["version"], h["outcome"]) for h in status["history"]]
    assert history[0] == (new, v2.version, "Promoted"), history
    assert (old, v1.version, "Promoted") in history, history  # kept for a rollback
    assert status["history"][0]["reason"] == "every step passed (2)", status["history"]
    progressing = r.condition(status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutComplete")
    ready_conditions = {r.condition(s, "Ready")["status"] for s in trial.statuses}
    assert ready_conditions == {"True"}, ready_conditions
    assert [(e.type, e.reason) for e in trial.events] == [
        ("Normal", "RolloutStarted"), ("Normal", "StepReached"), ("Normal", "Promoted"),
    ], trial.events  # fmt: skip
    reached = next(e.message for e in trial.events if e.reason == "StepReached")
    assert reached == f"step 1/2: canary {new} at 50% (1 of {REPLICAS} replicas ready)", reached

    # Analysis: intervals at step 1 passed, each with the requests the canary really got
    # (its agent's counters against v2's answers the loop saw in that interval, give or
    # take the second the reading takes), no error; the step was left only after its pause
    # and a passed interval.
    records = trial.analysis_records
    at_step_1 = [x for x in records if x["step"] == 1]
    assert at_step_1, records
    assert {x["verdict"] for x in records} == {"Passed"}, records
    starts = {s for (s,) in seen.rollout_states("intervalStartedAt") if s}
    for record in at_step_1:
        assert record["requests"] >= MIN_REQUESTS, record
        assert record["errorRate"] == 0, record
        start = max((s for s in starts if r.moment(s) < r.moment(record["at"])), key=r.moment)
        sent = sent_between(trial, start, record["at"])
        answered = sum(1 for x in sent if trial.answered_by(pod_models, x) == "v2")
        assert abs(record["requests"] - answered) <= 10 + answered / 5, (record, answered)
    reached_at = dict(seen.rollout_states("step", "weightReachedAt"))[1]
    left_at = dict(seen.rollout_states("step", "stepStartedAt"))[2]
    # Traffic by weight: at 50 % (one pod of each revision) v2 answered half the requests,
    # within three standard deviations of a random spread (from a second after the weight
    # was reached: kube-proxy rewrites its rules that long after the pod turned Ready).
    at_50 = [
        trial.answered_by(pod_models, x) for x in sent_between(trial, reached_at, left_at, settle=1)
    ]
    assert len(at_50) >= PAUSE * 10 * 0.8, len(at_50)
    spread = 3 * math.sqrt(len(at_50) * 0.25)
    assert abs(at_50.count("v2") - len(at_50) / 2) <= spread, (at_50.count("v2"), len(at_50))
    print(f"\ngood v2 at 50%: {at_50.count('v2')} of {len(at_50)} requests answered by v2")
    assert r.moment(left_at) - r.moment(reached_at) >= timedelta(seconds=PAUSE), (
        reached_at, left_at,
    )  # fmt: skip
    assert r.moment(left_at) >= r.moment(at_step_1[0]["at"]), (left_at, at_step_1)


def test_a_good_v2_is_promoted_with_analysis_while_the_operator_is_killed_at_random(
    on_v1: Stable, pod_models: PodModels, pods_operator: RunningOperator
) -> None:
    """R2 on real pods: SIGKILL on a seeded schedule (every 20 to 120 s, a new process a
    second later) through a rollout analysed on the model's metrics. It ends as without the
    kills: promoted after passed intervals, no request failed, one child per revision."""
    v2 = pod_models.v2
    old = r.status(on_v1.models, NAME)["stableRevision"]
    steps = [{"weight": 50, "pause": {"duration": f"{CHAOS_PAUSE}s"}}]
    # A revision of its own (v2's weights, a longer response timeout): v2 as promoted by an
    # earlier test is in the history, and going back to it is a rollback, done at once.
    runtime = {**v2.document()["spec"].get("runtime", {}), "responseTimeoutSeconds": 90}
    started = time.monotonic()
    with rel.Chaos(pods_operator, CHAOS_SEED) as chaos:
        trial = roll_out(
            on_v1, v2, {**rollout(), "steps": steps}, until=promoted_to(v2.version),
            settles_on=v2.version, timeout=DEADLINE + CHAOS_PAUSE, runtime=runtime,
        )  # fmt: skip
        during = [k - started for k in chaos.kills]
    assert len(during) >= 2, f"the schedule was meant to kill during the rollout: {during}"

    status, new = trial.final, trial.final["stableRevision"]
    assert trial.load.failures() == [], trial.load.statuses()
    records = trial.analysis_records
    assert records, "no analysis interval ended"
    assert {x["verdict"] for x in records} == {"Passed"}, records
    history = [(h["revision"], h["version"], h["outcome"]) for h in status["history"]]
    assert history[0] == (new, v2.version, "Promoted"), history
    assert status["history"][0]["reason"] == "every step passed (2)", status["history"]
    assert {r.condition(s, "Ready")["status"] for s in trial.statuses} == {"True"}
    children = rel.children_per_revision(on_v1.models, NAME)
    for kind in ("Deployment", "ConfigMap"):
        assert {old, new} <= set(children[kind]), children
        assert set(children[kind].values()) == {1}, f"a duplicate child: {children}"
    logs = [*pods_operator.earlier_logs, pods_operator.log]
    assert rel.tracebacks(*logs) == []
    print(f"\nchaos: kills at {[round(k) for k in during]} s, {len(records)} intervals passed")
