"""JSON merge patches (RFC 7386) from what is recorded to what should be.

A merge patch merges nested objects key by key: a field left out of the patch keeps its
recorded value. So a status write must send `null` for every field, however deep, that is
no longer set (a finished step's `weightReachedAt`), or the old value outlives its meaning.
"""

from collections.abc import Mapping
from typing import Any


def merge_patch(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The patch that turns `recorded` into `wanted` (a None in `wanted` means no field);
    empty when they already agree. Lists are replaced whole, as merge patches do."""
    patch: dict[str, Any] = {}
    for key in sorted(recorded.keys() | wanted.keys()):
        before, after = recorded.get(key), wanted.get(key)
        if after is None:
            if before is not None:
                patch[key] = None
        elif isinstance(before, Mapping) and isinstance(after, Mapping):
            nested = merge_patch(before, after)
            if nested:
                patch[key] = nested
        elif before != after:
            patch[key] = after
    return patch
