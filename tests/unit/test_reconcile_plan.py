"""The reconcile plan: which children to write, which to delete (unit world: pure)."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from ferry.build.network import OperatorIdentity
from ferry.reconcile.drift import covers, needs_apply
from ferry.reconcile.plan import ChildRef, Scale, World, decide
from tests.unit import md_samples as s

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OPERATOR = OperatorIdentity("ferry-system")


def as_stored(child: dict[str, Any]) -> dict[str, Any]:
    """The child as the API server returns it: server fields and defaults added."""
    stored = copy.deepcopy(child)
    stored["metadata"].update(uid="x", resourceVersion="7", generation=1, managedFields=[])
    if child["kind"] == "Deployment":
        template = stored["spec"]["template"]["spec"]
        template.update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default")
        for container in [*template["initContainers"], *template["containers"]]:
            container.update(imagePullPolicy="IfNotPresent")
        stored["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2}
    if child["kind"] == "Service":
        stored["spec"].update(clusterIP="10.96.0.10", sessionAffinity="None")
    return stored


def running_pods(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ready pods for every stored Deployment, as kwok would run them."""
    return [
        s.ready_pod(d["metadata"]["labels"]["serving.ferry.dev/model-deployment"],
                    d["metadata"]["labels"]["serving.ferry.dev/revision"],
                    f"{d['metadata']['name']}-{i}")
        for d in stored
        if d["kind"] == "Deployment"
        for i in range(d["spec"]["replicas"])
    ]  # fmt: skip


def merged(patch: Any) -> Any:
    """What the API server stores from a JSON merge patch: a null is no field at all."""
    if isinstance(patch, dict):
        return {k: merged(v) for k, v in patch.items() if v is not None}
    if isinstance(patch, list):
        return [merged(v) for v in patch]
    return patch


def world(stored: list[dict[str, Any]]) -> World:
    return World(children=stored, pods=running_pods(stored))


def converge(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run plans against a simulated API server until nothing is left to write."""
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(3):
        plan = decide(body, world(list(stored.values())), NOW, OPERATOR)
        for child in plan.apply:
            stored[(child["kind"], child["metadata"]["name"])] = as_stored(child)
        for ref in plan.delete:
            del stored[(ref.kind, ref.name)]
        if plan.status is not None:
            body = {**body, "status": merged(plan.status)}
    return body, list(stored.values())


def test_first_reconcile_applies_every_child() -> None:
    plan = decide(s.model_deployment(), World(children=[], pods=[]), NOW, OPERATOR)
    kinds = [c["kind"] for c in plan.apply]
    assert kinds == ["ConfigMap", "Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"]
    assert plan.delete == ()


def test_nothing_is_written_once_converged() -> None:
    body, stored = converge(s.model_deployment())
    plan = decide(body, world(stored), NOW, OPERATOR)
    assert (plan.apply, plan.delete, plan.status, plan.events) == ((), (), None, ())


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="evil:latest"),
            "Deployment",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                {"memory": "1Gi"}
            ),
            "Deployment",
        ),
        (lambda d: d["spec"].update(replicas=7), "Deployment"),
        (lambda d: d["spec"]["ports"][0].update(port=8000), "Service"),
    ],
)
def test_drifted_children_are_applied_again(edit: Any, kind: str) -> None:
    body, stored = converge(s.model_deployment())
    drifted = copy.deepcopy(stored)
    edit(next(c for c in drifted if c["kind"] == kind))
    plan = decide(body, World(children=drifted, pods=[]), NOW, OPERATOR)
    assert [c["kind"] for c in plan.apply] == [kind]


def test_deleted_child_comes_back() -> None:
    body, stored = converge(s.model_deployment())
    plan = decide(
        body, World(children=[c for c in stored if c["kind"] != "Service"], pods=[]), NOW, OPERATOR
    )
    assert [c["kind"] for c in plan.apply] == ["Service"]


def test_children_of_someone_else_are_ignored() -> None:
    body, stored = converge(s.model_deployment())
    foreign = copy.deepcopy(next(c for c in stored if c["kind"] == "Deployment"))
    foreign["metadata"].update(
        name="resnet-0000000000", ownerReferences=[{"uid": "other", "controller": True}]
    )
    foreign["metadata"]["labels"]["serving.ferry.dev/revision"] = "0000000000"
    plan = decide(body, World(children=[*stored, foreign], pods=[]), NOW, OPERATOR)
    assert plan.delete == ()


def test_a_promoted_revision_keeps_the_old_one_scaled_to_zero_for_rollback() -> None:
    body, stored = converge(s.model_deployment())
    old = next(c for c in stored if c["kind"] == "Deployment")
    updated = s.with_spec(body, "model.version", "2.2.0")
    rolling = decide(updated, World(children=stored, pods=running_pods(stored)), NOW, OPERATOR)
    assert rolling.delete == ()
    assert rolling.scale == ()  # the stable revision keeps every replica until canaries answer
    new_children = [as_stored(c) for c in rolling.apply]
    assert rolling.status is not None
    updated["status"] = rolling.status
    both = [*stored, *new_children]
    promoted = decide(updated, world(both), NOW, OPERATOR)
    assert promoted.status is not None
    assert promoted.status["stableRevision"] == promoted.revision
    assert promoted.delete == ()
    assert promoted.scale == (Scale(old["metadata"]["name"], 0),)
    assert promoted.status["history"][0]["outcome"] == "Promoted"


def test_revisions_beyond_the_history_limit_are_deleted() -> None:
    body, stored = converge(s.model_deployment(revisionHistoryLimit=1))
    first = {c["metadata"]["name"] for c in stored if c["kind"] in ("Deployment", "ConfigMap")}
    for version in ("2.2.0", "2.3.0"):
        body = s.with_spec(body, "model.version", version)
        for _ in range(3):  # start the rollout, promote, settle
            plan = decide(body, world(stored), NOW, OPERATOR)
            stored = [as_stored(c) for c in plan.apply] + [
                c for c in stored
                if ChildRef(c["apiVersion"], c["kind"], c["metadata"]["name"]) not in plan.delete
                and (c["kind"], c["metadata"]["name"])
                not in {(a["kind"], a["metadata"]["name"]) for a in plan.apply}
            ]  # fmt: skip
            if plan.status is not None:
                body["status"] = plan.status
    names = {c["metadata"]["name"] for c in stored if c["kind"] in ("Deployment", "ConfigMap")}
    assert not names & first  # two promotions later, the first revision is gone


def test_scaling_down_to_one_removes_the_pdb() -> None:
    body, stored = converge(s.model_deployment())
    plan = decide(s.with_spec(body, "replicas", 1), World(children=stored, pods=[]), NOW, OPERATOR)
    assert [ref.kind for ref in plan.delete] == ["PodDisruptionBudget"]


def test_invalid_spec_touches_no_child_and_says_why() -> None:
    body, stored = converge(s.model_deployment())
    broken = s.with_spec(body, "model.sha256", "not-a-checksum")
    plan = decide(broken, World(children=stored, pods=[]), NOW, OPERATOR)
    assert (plan.apply, plan.delete) == ((), ())
    assert plan.status is not None
    ready = next(c for c in plan.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.model.sha256" in ready["message"]


def test_rejected_children_become_a_condition_and_block_deletes() -> None:
    body, stored = converge(s.model_deployment())
    errors = ["Deployment resnet-x: spec.template.spec.affinity: Invalid value"]
    plan = decide(
        s.with_spec(body, "replicas", 1), World(children=stored, pods=[]), NOW, OPERATOR, errors
    )
    assert plan.delete == ()
    assert plan.status is not None
    progressing = next(c for c in plan.status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ApplyFailed")


def test_covers_ignores_server_defaults_but_not_changes() -> None:
    desired = {"a": 1, "b": {"c": [1, 2]}, "empty": {}, "flag": True}
    assert covers({"a": 1, "b": {"c": [1, 2], "d": 3}, "flag": True}, desired)
    assert not covers({"a": 1, "b": {"c": [1, 2, 3]}, "flag": True}, desired)
    assert not covers({"a": 1, "b": {"c": [1, 2]}, "flag": 1}, desired)
    assert needs_apply(desired, None)


def test_a_rollout_in_progress_that_did_not_move_writes_no_status() -> None:
    body, stored = converge(s.model_deployment())
    updated = s.with_spec(body, "model.version", "2.2.0")
    updated["spec"]["rollout"] = {"steps": [{"weight": 50, "pause": {}}]}
    started = decide(updated, world(stored), NOW, OPERATOR)
    assert started.status is not None
    assert started.status["rollout"]["phase"] == "Progressing"
    updated["status"] = merged(started.status)
    again = decide(updated, world(stored), NOW, OPERATOR)
    assert again.status is None
