"""Status writes are merge patches from the recorded status: applied by the API server's
rules (RFC 7386), they leave exactly the wanted status, nested fields no longer set included."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry.kube.patch import merge_patch

pytestmark = pytest.mark.unit


def applied(recorded: Any, patch: Any) -> Any:
    """What the API server stores after a JSON merge patch (RFC 7386, section 2)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(recorded) if isinstance(recorded, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = applied(result.get(key), value)
    return result


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


keys = st.sampled_from(["step", "weightReachedAt", "rollout", "conditions", "a", "b"])
leaves = st.none() | st.integers(0, 3) | st.text(max_size=3) | st.lists(st.integers(0, 2))
documents = st.recursive(
    leaves, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=10
)
objects = st.dictionaries(keys, documents, max_size=5)


@settings(suppress_health_check=[HealthCheck.too_slow])  # a busy machine's first draws
@given(objects, objects)
def test_the_patch_turns_the_recorded_status_into_the_wanted_one(
    recorded: dict[str, Any], wanted: dict[str, Any]
) -> None:
    stored = without_nulls(recorded)
    assert applied(stored, merge_patch(stored, wanted)) == without_nulls(wanted)


def test_a_nested_field_no_longer_set_is_removed_and_nothing_else_is_sent() -> None:
    recorded = {
        "observedGeneration": 2,
        "rollout": {"step": 1, "weightReachedAt": "2026-01-01T00:00:00.000000Z"},
    }
    wanted = {"observedGeneration": 2, "rollout": {"step": 2}, "canaryRevision": None}
    assert merge_patch(recorded, wanted) == {"rollout": {"step": 2, "weightReachedAt": None}}


def test_an_unchanged_status_needs_no_patch() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True"}], "rollout": {"step": 3}}
    assert merge_patch(status, {**status, "url": None}) == {}
