"""What this operator wrote last (children applied, the ModelDeployment's status), until its
watch caches have caught up with it.

A child edited by hand (say, a Deployment's image) is applied back at once; but the watch
events that the edit itself caused (the Deployment controller updating the edited object's
status, several times a second) are still on their way, and each wakes a reconcile that
would find the edited object in the cache and apply again. What an apply returned is newer
than those: a reconcile reads it instead, until the cache holds a version at least as new.
Likewise a reconcile woken by a child right after a status write reads that status, not the
one before it.

Resource versions are compared as integers, as etcd-backed API servers issue them; one that
is not an integer is never overlaid.
"""

from typing import Any

Key = tuple[str, str]  # (namespace, ModelDeployment name)
ChildKey = tuple[str, str]  # (kind, name)


def _version(obj: dict[str, Any]) -> int | None:
    value = str(obj["metadata"].get("resourceVersion", ""))
    return int(value) if value.isdigit() else None


def _child_key(obj: dict[str, Any]) -> ChildKey:
    return obj["kind"], obj["metadata"]["name"]


class OwnWrites:
    def __init__(self) -> None:
        self._written: dict[Key, dict[ChildKey, dict[str, Any]]] = {}

    def record(self, key: Key, applied: dict[str, Any]) -> None:
        """`applied`: what the API server answered to an apply (kind and all)."""
        if _version(applied) is not None:
            metadata = {k: v for k, v in applied["metadata"].items() if k != "managedFields"}
            kept = {**applied, "metadata": metadata}  # as the caches keep objects
            self._written.setdefault(key, {})[_child_key(applied)] = kept

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)

    def freshest(self, key: Key, cached: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`cached`, with each child replaced by what was applied when that is newer. A child
        the cache no longer holds stays absent (deleted: it must be created again), and what
        the cache has caught up with is forgotten."""
        written = self._written.get(key)
        if not written:
            return cached
        fresh = []
        for obj in cached:
            applied = written.get(_child_key(obj))
            ours, theirs = (_version(applied) if applied else None), _version(obj)
            if applied is not None and ours is not None and theirs is not None and ours > theirs:
                fresh.append(applied)
            else:
                written.pop(_child_key(obj), None)
                fresh.append(obj)
        for gone in set(written) - {_child_key(obj) for obj in cached}:
            del written[gone]
        if not written:
            del self._written[key]
        return fresh
