"""The fuzzer's strategies (tests/crd_fuzz.py) against the operator's own models: what they
call valid, Ferry parses; every scalar of the CRD is fuzzed; mistakes name real fields."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ferry.api.parse import parse_model_deployment
from tests import crd_fuzz
from tests.crd_fuzz import Mistake

pytestmark = pytest.mark.unit

SLOW_DRAWS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def body(spec: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": "fuzz", "namespace": "ml", "uid": "u", "generation": 1}
    return {"apiVersion": "serving.ferry.dev/v1alpha1", "kind": "ModelDeployment",
            "metadata": metadata, "spec": spec}  # fmt: skip


@SLOW_DRAWS
@given(crd_fuzz.valid_specs())
def test_what_the_fuzzer_calls_valid_the_operator_parses(spec: dict[str, Any]) -> None:
    parse_model_deployment(body(spec))  # raises SpecError naming the field otherwise


def test_every_scalar_field_of_the_crd_is_fuzzed() -> None:
    paths = {leaf.field_path for leaf in crd_fuzz.LEAVES}
    assert len(paths) == len(crd_fuzz.LEAVES) >= 50
    assert {"spec.model.sha256", "spec.rollout.steps[0].weight", "spec.resources.cpu"} <= paths
    bounded = {leaf.field_path: (leaf.low, leaf.high) for leaf in crd_fuzz.LEAVES}
    assert bounded["spec.runtime.workers"] == (1, 64)  # read from the field's CEL rule


@SLOW_DRAWS
@given(crd_fuzz.mistakes())
def test_a_mistake_names_a_field_the_spec_has_or_lacks(mistake: Mistake) -> None:
    node: Any = {"spec": mistake.spec}
    *parents, last = mistake.field_path.replace("[0]", ".0").split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    present = int(last) < len(node) if last.isdigit() else last in node
    assert present or mistake.what == "a required field left out"
