"""The Gateway API CRDs (standard channel) in a test cluster, from the Go module that ships
them: `go mod download` puts `sigs.k8s.io/gateway-api` in the Go module cache once, and every
later install reads the YAML from there (no network).

v1.7.0 is the newest v1.x on the module proxy, but its go.mod asks for Go 1.27 and this
machine's toolchain is Go 1.26 with GOTOOLCHAIN=local, which refuses to extract it; v1.6.3
is the newest the toolchain accepts. Its standard channel serves HTTPRoute as `v1`.
"""

import json
import subprocess
from pathlib import Path
from typing import Final

from e2e.localcluster import ClusterAccess, ClusterError

MODULE: Final = "sigs.k8s.io/gateway-api"
VERSION: Final = "v1.6.3"
HTTP_ROUTES_CRD: Final = "httproutes.gateway.networking.k8s.io"


def standard_crds(version: str = VERSION) -> list[Path]:
    """The standard channel's manifests (CRDs, and the upgrade-safety admission policy)."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    try:
        found = json.loads(done.stdout)
    except json.JSONDecodeError:
        found = {}
    if done.returncode != 0 or "Dir" not in found:
        reason = found.get("Error") or done.stderr.strip() or "no module directory"
        raise ClusterError(f"go mod download {MODULE}@{version} failed: {reason}")
    manifests = sorted((Path(found["Dir"]) / "config" / "crd" / "standard").glob("*.yaml"))
    if not manifests:
        raise ClusterError(f"{MODULE}@{version} has no config/crd/standard/*.yaml")
    return manifests


def install_gateway_api(cluster: ClusterAccess, version: str = VERSION) -> None:
    """Apply the standard channel (server-side, idempotent) and wait until HTTPRoute is served."""
    files = [arg for manifest in standard_crds(version) for arg in ("-f", str(manifest))]
    cluster.kubectl("apply", "--server-side", *files)
    cluster.kubectl(
        "wait", "--for=condition=Established", f"crd/{HTTP_ROUTES_CRD}", "--timeout=60s"
    )
