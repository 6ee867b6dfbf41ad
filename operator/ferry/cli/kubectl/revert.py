"""Rollback decisions: which history entry to go back to, and who else owns `spec.model`. Pure."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ferry.api.status import HistoryEntry, ModelDeploymentStatus

FIELD_MANAGER = "kubectl-ferry"
# Managers that are people at a terminal (kubectl's defaults: kubectl, kubectl-edit,
# kubectl-patch, kubectl-client-side-apply, ...) or this plugin; anyone else is a tool that
# will put its own version back.
HUMAN_MANAGERS = ("kubectl", FIELD_MANAGER)
KNOWN_TOOLS = {
    "argocd-controller": "Argo CD",
    "argocd-application-controller": "Argo CD",
    "kustomize-controller": "Flux",
    "helm-controller": "Flux",
    "helm": "Helm",
}
MODEL_FIELDS = ("version", "uri", "sha256")


class NotInHistoryError(Exception):
    """The requested version cannot be rolled back to; the message says what can."""


def rollback_target(
    status: ModelDeploymentStatus, declared: Mapping[str, Any], to_version: str | None
) -> HistoryEntry:
    """The history entry to set `spec.model` back to.

    Default: the previous stable, i.e. the newest `Promoted` entry that is not the stable
    revision now. `--to VERSION`: the newest entry of that version, promoted ones first (going
    back to one skips steps and analysis; to any other, it rolls out as a canary again).
    """
    history = status.history
    if to_version is None:
        previous = [
            e for e in history if e.outcome == "Promoted" and e.revision != status.stable_revision
        ]
        if not previous:
            raise NotInHistoryError(
                f"no previous stable revision in status.history ({_versions(history)}): "
                "nothing to roll back to"
            )
        found = previous[0]
    else:
        of_version = [e for e in history if e.version == to_version]
        promoted = [e for e in of_version if e.outcome == "Promoted"]
        if not of_version:
            raise NotInHistoryError(
                f"version {to_version} is not in status.history ({_versions(history)}): "
                "only a version Ferry ran before can be rolled back to"
            )
        found = (promoted or of_version)[0]
    if all(declared.get(f) == getattr(found, f) for f in MODEL_FIELDS):
        raise NotInHistoryError(f"spec.model already declares version {found.version}")
    return found


def model_patch(entry: HistoryEntry) -> dict[str, Any]:
    return {"spec": {"model": {f: getattr(entry, f) for f in MODEL_FIELDS}}}


def other_managers(managed_fields: Iterable[Mapping[str, Any]]) -> list[str]:
    """Field managers other than a person's kubectl (or this plugin) owning `spec.model`."""
    found: list[str] = []
    for entry in managed_fields:
        manager = str(entry.get("manager") or "")
        if entry.get("subresource") or manager in found or _human(manager):
            continue
        model = ((entry.get("fieldsV1") or {}).get("f:spec") or {}).get("f:model")
        if model:
            found.append(manager)
    return found


def gitops_refusal(ref: str, managers: Sequence[str], version: str) -> str:
    named = ", ".join(f"{m} ({KNOWN_TOOLS[m]})" if m in KNOWN_TOOLS else m for m in managers)
    return (
        f"{ref}: spec.model is managed by {named}, which would put its version back: revert "
        f"the version in Git instead (back to {version}), or pass --force to set it here anyway"
    )


def _human(manager: str) -> bool:
    return manager in HUMAN_MANAGERS or manager.startswith("kubectl-")


def _versions(history: Sequence[HistoryEntry]) -> str:
    if not history:
        return "it is empty"
    return "has " + ", ".join(f"{e.version} {e.outcome}" for e in history)
