"""What the autoscaling tests and the benchmark share: closed-loop clients through a model's
Service, and how Ferry's autoscaler decided, as its status and Events tell it.

Load is made of closed-loop clients: each sends one prediction, waits for the answer, sends
the next. Against `slow` (0.2 s per forward pass) a client is in flight nearly all the time,
so N clients are about N concurrent requests at the pods' fronts (Little's law), whatever
the number of pods: the metric `concurrency` per pod is then about N / ready pods.
"""

import itertools
from typing import Any

from e2e.localcluster.realnode import RealNode
from tests.cluster.operator_harness import ModelDeployments
from tests.cluster.rollouts import Recorder, events
from tests.pods.load import LoadLoop

# Ferry's autoscaler evaluates this often on this tier (the product's default is 10 s), so the
# autoscaling tests see several evaluations per phase of their load without waiting long.
AUTOSCALE_INTERVAL_SECONDS = 5
ROWS = [[0.125 * (i % 5) for i in range(16)]]
# One client sends at most this many requests: bounds a loop of `seconds` against slow (at
# most ~5 answers a second per client) with room to spare.
REQUESTS_PER_CLIENT_SECOND = 20


def clients(node: RealNode, url: str, count: int, seconds: float) -> LoadLoop:
    """`count` closed-loop clients for at most `seconds` (a new connection per request, so
    kube-proxy spreads them over every ready pod)."""
    return LoadLoop(
        node,
        url,
        [{"data": ROWS}],
        requests=int(count * seconds * REQUESTS_PER_CLIENT_SECOND),
        seconds=seconds,
        concurrency=count,
        timeout=30,
    )


def autoscaling(status: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = status.get("autoscaling") or {}
    return found


def desired_counts(recorder: Recorder) -> list[int]:
    """status.autoscaling.desiredReplicas after every status change; repeats folded."""
    counts: list[int] = []
    for (recorded,) in recorder.rollout_states("/autoscaling"):
        desired = (recorded or {}).get("desiredReplicas")
        if desired is not None and (not counts or counts[-1] != desired):
            counts.append(desired)
    return counts


def scaled_events(models: ModelDeployments, name: str) -> list[str]:
    """The messages of the model's `Scaled` Events, oldest first."""
    return [e.message for e in events(models, name) if e.reason == "Scaled"]


def changes(counts: list[int]) -> list[str]:
    """`a -> b` for each change of a folded sequence of counts, as a Scaled event ends."""
    return [f"{a} -> {b}" for a, b in itertools.pairwise(counts)]
