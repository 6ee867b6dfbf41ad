"""R16: a GPU node is lost. Its pods move when another node has room; when none has, the
model says so (Ready=False InsufficientGPU, naming what a pod needs), and it serves again
once a node with room joins.

World: the session's local control plane; simulated GPU nodes of a pool of this test's own
(a label the model's nodeSelector names, so nothing else lands there or competes for them).
A node is lost the way a cloud takes one away: its Node object is deleted. The pod garbage
collector then deletes the pods bound to it (after its 40 s quarantine) and their ReplicaSet
creates new ones, which the scheduler places by their real nvidia.com/gpu requests.
"""

import time
import uuid
from collections.abc import Iterator

import pytest

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster import reliability as rel
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster

NAME = "llm"
GPUS = 2  # per replica; two replicas fill a 4-GPU node
MOVED = 150  # bound on pod GC (40 s quarantine, 20 s period) plus rescheduling


class Pool:
    """Simulated GPU nodes labelled for this test; every node left is deleted at the end."""

    def __init__(self, cluster: ClusterAccess) -> None:
        self.cluster = cluster
        self.label = f"r16-{uuid.uuid4().hex[:6]}"
        self.nodes: list[str] = []

    def add(self, name: str, gpus: int) -> str:
        node = f"{self.label}-{name}"
        self.cluster.add_node(node, gpus, labels={"ferry.dev/pool": self.label})
        self.nodes.append(node)
        return node

    def lose(self, node: str) -> None:
        self.cluster.delete_node(node)
        self.nodes.remove(node)


@pytest.fixture
def pool(cluster: ClusterAccess) -> Iterator[Pool]:
    nodes = Pool(cluster)
    yield nodes
    for node in list(nodes.nodes):
        nodes.lose(node)


def manifest(pool: Pool) -> str:
    text = rel.manifest(NAME, replicas=2, gpus=GPUS)
    return text.replace(
        "spec:\n", f"spec:\n  placement:\n    nodeSelector: {{ferry.dev/pool: {pool.label}}}\n", 1
    )


def placed(models: ModelDeployments) -> list[str]:
    return sorted(node for node, _ in rel.pods(models, NAME).values())


def test_a_lost_gpu_node_moves_its_pods_or_says_what_is_missing(
    ferry_operator: RunningOperator, models: ModelDeployments, pool: Pool
) -> None:
    first = pool.add("a", gpus=4)
    pool.add("small", gpus=1)  # in the pool, too small for one replica
    models.apply(manifest(pool))
    models.wait_condition(NAME, "Ready", "True", timeout=60)
    assert placed(models) == [first, first]

    # Room elsewhere: the pods move and the model serves again.
    second = pool.add("b", gpus=4)
    reasons: set[str] = set()

    def watch() -> list[str]:
        ready = models.condition(NAME, "Ready")
        if ready.get("status") != "True":
            reasons.add(ready.get("reason", ""))
        return placed(models)

    pool.lose(first)
    lost = time.monotonic()
    eventually(watch, lambda nodes: nodes == [second, second], MOVED, "the pods moved to b")
    models.wait_condition(NAME, "Ready", "True", timeout=30)
    print(f"serving again on another node {time.monotonic() - lost:.0f}s after the loss;"
          f" not Ready meanwhile with {sorted(reasons) or 'no gap'}")  # fmt: skip
    assert "" not in reasons, "not Ready without a reason"
    assert "InsufficientGPU" not in reasons, reasons

    # No room anywhere: the model says which resource is short and how much a pod needs.
    pool.lose(second)
    ready = models.wait_condition(NAME, "Ready", "False", "InsufficientGPU", timeout=MOVED)
    assert f"needs {GPUS} nvidia.com/gpu" in ready["message"]
    assert "Insufficient nvidia.com/gpu" in ready["message"]  # the scheduler's own words
    scheduled = models.condition(NAME, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "InsufficientGPU")

    # A node with room returns: the pending pods land there and the model serves.
    third = pool.add("c", gpus=4)
    models.wait_condition(NAME, "Ready", "True", timeout=60)
    assert placed(models) == [third, third]
    assert models.condition(NAME, "Scheduled")["status"] == "True"
    assert ferry_operator.process.process.poll() is None
    assert rel.tracebacks(ferry_operator.log) == []
