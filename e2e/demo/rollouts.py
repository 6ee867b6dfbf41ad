"""The demo's second half, on real pods under a bounded load: a canary of 2.0.0 promoted
step by step with no failed request, then a 2.0.2 that fails a quarter of its answers,
rolled back by analysis on its own metrics."""

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from e2e.demo.serving import NAME, on_real_node
from e2e.demo.show import MODELS_NS, Demo
from e2e.localcluster import ClusterError
from tests.pods.artifacts import PROBE_ROWS, PackagedModel, PodModels
from tests.pods.load import LoadLoop, LoadResult

ROWS = PROBE_ROWS[:1]
RATE, MOST_SECONDS = 8.0, 240  # requests per second through the Service; the loop's bound
ANALYSIS = {"intervalSeconds": 10, "minRequests": 20, "maxErrorRate": 0.05,
            "maxMeanLatencyMs": 500, "failureLimit": 0}  # fmt: skip
STEPS = [{"weight": 50, "pause": {"duration": "20s"}}]


@dataclass(frozen=True)
class Outcome:
    """Times in seconds since the load loop started, as its responses' `sent_at`."""

    phase: str  # Promoted or RolledBack
    took_traffic: float  # the canary's first pod answered (status.canaryWeight > 0)
    ended: float
    load: LoadResult


def canary(demo: Demo, models: PodModels, url: str) -> None:
    demo.step("6. A canary of 2.0.0: 50 % for 20 s with analysis, then 100 %, under load")
    demo.say(f"clients send {RATE:.0f} requests/s through the Service the whole time; "
             f"analysis every {ANALYSIS['intervalSeconds']}s: error rate <= "
             f"{ANALYSIS['maxErrorRate']}, mean latency <= {ANALYSIS['maxMeanLatencyMs']}ms, "
             f"at least {ANALYSIS['minRequests']} canary requests")  # fmt: skip
    outcome = roll_out(demo, models.v2, url)
    if outcome.phase != "Promoted":
        raise ClusterError(f"2.0.0 was {outcome.phase}, not promoted")
    answers = Counter(models.identify(ROWS, r.body) or "other" for r in outcome.load.responses)
    statuses = outcome.load.statuses()
    demo.say(
        f"clients: {len(outcome.load.responses)} requests, statuses {dict(statuses)}, "
        f"answered by 1.0.0 {answers['v1']} times, by 2.0.0 {answers['v2']} times"
    )
    if set(statuses) != {200}:
        raise ClusterError(f"a request failed during a good rollout: {dict(statuses)}")
    demo.run("kubectl", "ferry", "history", NAME, "-n", MODELS_NS)


def bad_canary(demo: Demo, models: PodModels, url: str) -> None:
    demo.step("7. A bad 2.0.2 (a quarter of its answers fail): rolled back by analysis")
    outcome = roll_out(demo, models.flaky, url)
    if outcome.phase != "RolledBack":
        raise ClusterError(f"2.0.2 was {outcome.phase}, not rolled back")
    reason = demo.condition(NAME, "Degraded")
    demo.say(f"Degraded={reason.get('status')} {reason.get('reason')}: {reason.get('message')}")
    during = [r for r in outcome.load.responses
              if outcome.took_traffic <= r.sent_at <= outcome.ended]  # fmt: skip
    failed = sum(r.status != 200 for r in during)
    after = [r for r in outcome.load.responses if r.sent_at > outcome.ended + 2]
    demo.say(
        f"rolled back {outcome.ended - outcome.took_traffic:.1f}s after the canary took "
        f"traffic (analysis judges each {ANALYSIS['intervalSeconds']}s interval once the "
        f"step's weight is reached; failureLimit {ANALYSIS['failureLimit']}: the first failed "
        f"interval rolls back); clients saw "
        f"{failed} failures in {len(during)} requests meanwhile (the canary's share), and "
        f"{sum(r.status != 200 for r in after)} in the {len(after)} requests after it"
    )
    demo.run("kubectl", "ferry", "history", NAME, "-n", MODELS_NS)
    demo.run("kubectl", "get", "events", "-n", MODELS_NS, "--field-selector",
             f"involvedObject.name={NAME},type=Warning")  # fmt: skip


def roll_out(demo: Demo, model: PackagedModel, url: str) -> Outcome:
    """Apply `model` with the demo's steps and analysis under load; show the rollout at each
    change, until it is promoted or rolled back."""
    document = on_real_node(demo, model)
    document["spec"]["rollout"] = {"steps": STEPS, "analysis": ANALYSIS,
                                   "progressDeadlineSeconds": 120}  # fmt: skip
    started = time.monotonic()  # the loop's own start, to a few milliseconds
    with LoadLoop(demo.cluster.real_node, url, [{"data": ROWS}], requests=int(RATE * MOST_SECONDS),
                  seconds=MOST_SECONDS, concurrency=2, rate=RATE) as load:  # fmt: skip
        time.sleep(2)  # a little traffic before the change
        demo.apply(document, f"podnet-{model.version}.yaml")
        phase, took_traffic = follow(demo, model.version)
        ended = time.monotonic()
        time.sleep(5)  # and a little after
        load.stop()
    return Outcome(phase, took_traffic - started, ended - started, load.result())


def follow(demo: Demo, version: str, timeout: float = 200) -> tuple[str, float]:
    """Show `kubectl ferry get` whenever the rollout moves; (how it ended, when the canary
    first took traffic)."""
    deadline, shown, took_traffic = time.monotonic() + timeout, None, 0.0
    while time.monotonic() < deadline:
        status = demo.status(NAME)
        moment = _moment(status, version)
        if status.get("canaryWeight") and not took_traffic:
            took_traffic = time.monotonic()
        if moment != shown:
            shown = moment
            demo.run("kubectl", "ferry", "get", NAME, "-n", MODELS_NS)
        if moment[0] in ("Promoted", "RolledBack"):
            return moment[0], took_traffic or time.monotonic()
        time.sleep(1)
    raise ClusterError(f"the rollout of {version} did not end within {timeout:.0f}s")


def _moment(status: dict[str, Any], version: str) -> tuple[Any, ...]:
    """What the rollout is doing, coarsely: a new value is worth showing."""
    history = status.get("history") or []
    if history and history[0].get("version") == version:
        return (history[0]["outcome"],)
    rollout = status.get("rollout") or {}
    return (rollout.get("phase"), rollout.get("step"), bool(rollout.get("weightReachedAt")))
