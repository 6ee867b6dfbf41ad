"""Does an observed child already say everything its desired form says?

Server-side apply only owns the fields Ferry sends, and the API server adds defaults, so the
test is "the desired object is contained in the observed one", not equality. Builders emit
quantities in canonical form and never send fields the server drops, which keeps this exact.
"""

from typing import Any


def needs_apply(desired: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    return observed is None or not covers(observed, desired)


def covers(observed: Any, desired: Any) -> bool:
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return False
        return all(
            covers(observed[key], value) if key in observed else value in ({}, [])
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(observed) == len(desired)
            and all(covers(o, d) for o, d in zip(observed, desired, strict=True))
        )
    # bool is an int in Python; `True == 1` must not pass for a Kubernetes field.
    return type(observed) is type(desired) and bool(observed == desired)


def replacement(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The body of an update (PUT) that forces `desired` onto `observed`.

    For drift apply cannot undo: a list entry another manager owns that clashes with ours
    (say, a Service port renamed by hand). Maps merge, so server-set fields such as a
    clusterIP survive; lists are replaced whole; resourceVersion guards against races.
    """
    merged = _overlay(observed, desired)
    merged["metadata"] = {k: v for k, v in merged["metadata"].items() if k != "managedFields"}
    merged.pop("status", None)
    return merged


def _overlay(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    merged = dict(observed)
    for key, value in desired.items():
        current = observed.get(key)
        merged[key] = (
            _overlay(current, value)
            if isinstance(value, dict) and isinstance(current, dict)
            else value
        )
    return merged
