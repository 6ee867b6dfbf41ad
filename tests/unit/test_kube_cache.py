"""The watch cache keeps each object compact (no managedFields) and gives a reconcile the
object as it was watched, kind and apiVersion set, each snapshot its own copy."""

from typing import Any

import pytest

from ferry.kube.cache import MODEL_DEPLOYMENTS_INDEX, PODS_INDEX, WorldCache, child_index, plain

pytestmark = pytest.mark.unit

KEY = ("models", "mnist")


def deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "models",
            "labels": {"serving.ferry.dev/model-deployment": "mnist"},
            "managedFields": [{"manager": "ferry", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    }


def cache_holding(*names: str) -> WorldCache:
    cache = WorldCache(["deployments"])
    index = {KEY: [plain(deployment(n), "apps/v1", "Deployment") for n in names]}
    cache.bind({child_index("deployments"): index, PODS_INDEX: {}})
    return cache


def test_a_snapshot_is_the_watched_object_without_managed_fields() -> None:
    (found,) = cache_holding("mnist-a").snapshot(*KEY).children
    expected = deployment("mnist-a")
    del expected["metadata"]["managedFields"]
    assert found == {"apiVersion": "apps/v1", "kind": "Deployment", **expected}


def test_a_snapshot_is_a_copy_a_reconcile_may_change() -> None:
    cache = cache_holding("mnist-a")
    cache.snapshot(*KEY).children[0]["spec"]["replicas"] = 9
    assert cache.snapshot(*KEY).children[0]["spec"]["replicas"] == 2


def test_an_unknown_owner_or_an_index_not_listed_yet_has_nothing() -> None:
    cache = cache_holding("mnist-a")
    assert cache.snapshot("models", "other").children == []
    assert cache.snapshot(*KEY).autoscalers == []  # that index is not bound


def test_the_model_deployment_is_read_from_its_index_and_a_deleted_one_is_none() -> None:
    cache = WorldCache(["deployments"])
    model = {"metadata": {"name": "mnist", "namespace": "models"}, "spec": {"replicas": 2}}
    index = {KEY: [plain(model, "serving.ferry.dev/v1alpha1", "ModelDeployment")]}
    cache.bind({MODEL_DEPLOYMENTS_INDEX: index})
    assert cache.snapshot(*KEY).model_deployment == {
        "apiVersion": "serving.ferry.dev/v1alpha1",
        "kind": "ModelDeployment",
        **model,
    }
    assert cache.snapshot("models", "gone").model_deployment is None
