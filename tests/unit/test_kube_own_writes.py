"""The operator's own applies, read instead of older cached copies until the cache catches up."""

from typing import Any

import pytest

from ferry.kube.own_writes import OwnWrites

pytestmark = pytest.mark.unit

KEY = ("models", "resnet")


def deployment(version: str, image: str, name: str = "resnet-abc") -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "resourceVersion": version, "managedFields": [{"m": 1}]},
        "spec": {"image": image},
    }


def test_an_older_cached_copy_reads_as_what_was_applied_without_its_managed_fields() -> None:
    writes = OwnWrites()
    writes.record(KEY, deployment("12", "good"))
    (seen,) = writes.freshest(KEY, [deployment("10", "edited")])
    assert seen["spec"]["image"] == "good"
    assert "managedFields" not in seen["metadata"]


def test_an_edit_after_the_apply_is_seen_and_the_apply_forgotten() -> None:
    writes = OwnWrites()
    writes.record(KEY, deployment("12", "good"))
    assert writes.freshest(KEY, [deployment("13", "edited")])[0]["spec"]["image"] == "edited"
    # Forgotten: even an older copy (a late event) is read as cached from now on.
    assert writes.freshest(KEY, [deployment("11", "edited")])[0]["spec"]["image"] == "edited"


def test_a_deleted_child_stays_absent_so_that_it_is_created_again() -> None:
    writes = OwnWrites()
    writes.record(KEY, deployment("12", "good"))
    assert writes.freshest(KEY, []) == []
    assert writes.freshest(KEY, [deployment("10", "old")])[0]["spec"]["image"] == "old"


def test_other_models_children_and_unversioned_objects_are_left_alone() -> None:
    writes = OwnWrites()
    writes.record(KEY, deployment("12", "good"))
    writes.record(KEY, deployment("x7", "odd", name="other"))
    assert writes.freshest(("models", "bert"), [deployment("10", "b")])[0]["spec"]["image"] == "b"
    cached = [deployment("10", "edited"), deployment("5", "cached", name="other")]
    seen = writes.freshest(KEY, cached)
    assert [d["spec"]["image"] for d in seen] == ["good", "cached"]
    writes.forget(KEY)
    assert writes.freshest(KEY, cached) == cached


def test_a_status_write_is_read_back_beside_the_children_it_was_written_with() -> None:
    """A reconcile woken by a child right after a status write reads that status."""
    writes = OwnWrites()
    model = {"kind": "ModelDeployment", "metadata": {"name": "resnet", "resourceVersion": "20"}}
    writes.record(KEY, {**model, "status": {"phase": "Ready"}})
    cached = [{**model, "metadata": {**model["metadata"], "resourceVersion": "19"}}]
    seen = writes.freshest(KEY, [*cached, deployment("12", "good")])
    assert seen[0]["status"] == {"phase": "Ready"}
    assert seen[1]["spec"]["image"] == "good"  # a child of another kind, the same name aside
