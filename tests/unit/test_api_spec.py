"""Parsing ModelDeployment objects into typed models (unit world: pure)."""

import pytest

from ferry.api.parse import SpecError, parse_model_deployment, parse_status
from tests.unit.md_samples import model_deployment, with_spec

pytestmark = pytest.mark.unit


def test_defaults_match_a_minimal_object() -> None:
    md = parse_model_deployment(model_deployment())
    assert md.spec.runtime.workers == 1
    assert md.spec.runtime.batching.max_batch_size == 1
    assert md.spec.resources.gpu == 0
    assert md.spec.resources.gpu_resource_name == "nvidia.com/gpu"
    assert md.spec.rollout.progress_deadline_seconds == 600
    assert md.spec.inference.allowed_sources == []


def test_quantities_and_checksums_are_normalised() -> None:
    body = with_spec(model_deployment(), "resources", {"cpu": "0.5", "memory": "1024Mi"})
    body = with_spec(body, "model.sha256", "A" * 64)
    md = parse_model_deployment(body)
    assert (md.spec.resources.cpu, md.spec.resources.memory) == ("500m", "1Gi")
    assert md.spec.model.sha256 == "a" * 64


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("model.sha256", "abc", "spec.model.sha256"),
        ("model.uri", "ftp://host/m.mar", "spec.model.uri"),
        ("model.uri", "pvc://claim-only", "spec.model.uri"),
        ("resources.cpu", "0", "spec.resources.cpu"),
        ("resources.gpu", -1, "spec.resources.gpu"),
        ("replicas", -1, "spec.replicas"),
        ("runtime.batching", {"maxBatchSize": 1, "maxBatchDelayMs": 5}, "spec.runtime.batching"),
        ("podMetadata.labels", {"serving.ferry.dev/revision": "x"}, "spec.podMetadata.labels"),
    ],
)
def test_errors_name_the_field(path: str, value: object, named: str) -> None:
    with pytest.raises(SpecError, match=named.replace(".", r"\.")):
        parse_model_deployment(with_spec(model_deployment(), path, value))


def test_missing_spec_is_an_error_not_a_crash() -> None:
    body = model_deployment()
    del body["spec"]
    with pytest.raises(SpecError, match=r"spec\.model"):
        parse_model_deployment(body)


def test_unreadable_status_counts_as_none() -> None:
    assert parse_status({"status": {"conditions": "garbage"}}).conditions == []
