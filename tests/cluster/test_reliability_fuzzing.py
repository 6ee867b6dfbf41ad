"""Fuzzing through the real API server: hypothesis-generated ModelDeployments, drawn from
the CRD's own schema and rules (tests/crd_fuzz.py). Every spec with one mistake is refused
with the path of the field at fault; every valid one is reconciled (a status describing its
generation); the operator never dies and never logs a traceback.

World: the session's local control plane (schema, defaults, CEL and strict field validation
are the API server's own), the operator with the chart's RBAC; kwok plays the pods of the
valid specs. Objects are created as `kubectl apply` does, with fieldValidation=Strict.
"""

import uuid
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from kubernetes.client.exceptions import ApiException

from tests import crd_fuzz
from tests.cluster import operator_harness as harness
from tests.cluster import reliability as rel
from tests.cluster.helpers import eventually
from tests.cluster.operator_harness import GROUP, PLURAL, VERSION, ModelDeployments, RunningOperator
from tests.crd_fuzz import Mistake

ferry_operator = harness.ferry_operator
models = harness.models

pytestmark = pytest.mark.cluster


def fuzz(examples: int) -> settings:
    """The namespace (function-scoped) is shared by the examples of one test, on purpose."""
    return settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a shrink would cost minutes
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# An unknown field is a malformed request (400); everything else, an invalid object (422).
REFUSED = {400, 422}


def create(models: ModelDeployments, spec: dict[str, Any]) -> str:
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
    models.custom.create_namespaced_custom_object(
        GROUP, VERSION, models.namespace, PLURAL, body, field_validation="Strict"
    )
    return name


def operator_is_fine(operator: RunningOperator) -> None:
    assert operator.process.process.poll() is None, f"the operator exited: {operator.log}"
    assert rel.tracebacks(operator.log) == [], f"the operator logged a traceback: {operator.log}"


@fuzz(120)
@given(crd_fuzz.mistakes())
def test_a_spec_with_one_mistake_is_refused_naming_the_field(
    ferry_operator: RunningOperator, models: ModelDeployments, mistake: Mistake
) -> None:
    with pytest.raises(ApiException) as refused:
        create(models, mistake.spec)
    message = str(yaml.safe_load(refused.value.body or "{}").get("message", ""))
    assert refused.value.status in REFUSED, message
    assert mistake.field_path in message, f"{mistake.what}: {message}"
    operator_is_fine(ferry_operator)


@fuzz(40)
@given(crd_fuzz.valid_specs())
# Found by this test: a route whose API the cluster may not serve (nor RBAC have allowed).
@example({**crd_fuzz.BASE, "traffic": {"httpRoute": {"parentRefs": [{"name": "gateway"}]}}})
def test_a_valid_spec_is_accepted_and_reconciled(
    ferry_operator: RunningOperator, models: ModelDeployments, spec: dict[str, Any]
) -> None:
    name = create(models, spec)
    generation = models.get(name)["metadata"]["generation"]
    status = eventually(
        lambda: models.get(name).get("status") or {},
        lambda s: s.get("observedGeneration") == generation,
        30,
        f"{name}: a status describing generation {generation}",
    )
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Progressing", "Degraded"}
    models.custom.delete_namespaced_custom_object(GROUP, VERSION, models.namespace, PLURAL, name)
    operator_is_fine(ferry_operator)
