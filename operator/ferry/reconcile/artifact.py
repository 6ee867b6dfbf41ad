"""What a failed `ferry-fetch` means for the user, from its exit code (docs/pod-contract.md)."""

from typing import Any, Final

from ferry.contract import FetchExit
from ferry.reconcile.failure import Failure, truncate

# Reason of the ArtifactVerified condition, and what to do about it.
ARTIFACT_FAILURES: Final[dict[int, tuple[str, str]]] = {
    FetchExit.USAGE: ("FetchMisconfigured", "report this: Ferry rendered a bad ferry-fetch call"),
    FetchExit.CHECKSUM_MISMATCH: (
        "ArtifactChecksumMismatch",
        "the artifact at spec.model.uri does not match spec.model.sha256; fix one of them",
    ),
    FetchExit.NOT_FOUND: ("ArtifactNotFound", "check spec.model.uri"),
    FetchExit.AUTH_FAILED: (
        "ArtifactAuthFailed",
        "check the credentials in spec.model.credentialsSecretRef",
    ),
    FetchExit.UNSUPPORTED_SCHEME: ("UnsupportedScheme", "use a supported spec.model.uri scheme"),
    FetchExit.NETWORK: ("ArtifactUnreachable", "check that the pod can reach spec.model.uri"),
    FetchExit.UNSAFE_FORMAT: (
        "UnsafeArtifactFormat",
        "export the model as TorchScript, torch.export or safetensors, "
        "or set spec.model.allowUnsafePickle if you trust it",
    ),
    FetchExit.INVALID_ARCHIVE: (
        "InvalidArchive",
        "spec.model.uri must point to a model archive built with `ferry package`",
    ),
}
FETCH_FAILED: Final = "FetchFailed"


def fetch_failure(pod: str, last_exit: dict[str, Any]) -> Failure | None:
    """The failure behind a non-zero exit of the fetch init container, if it had one."""
    code = last_exit.get("exitCode")
    if code is None or code == FetchExit.OK:
        return None
    reason, hint = ARTIFACT_FAILURES.get(
        code, (FETCH_FAILED, f"exit code {code} ({last_exit.get('reason', 'Error')})")
    )
    said = (last_exit.get("message") or "").strip()
    detail = f"{said}; {hint}" if said else hint
    return Failure(reason, truncate(f"pod {pod}: fetch failed: {detail}"))
