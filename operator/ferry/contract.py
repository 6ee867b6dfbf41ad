"""The pod contract: what the operator's builders and the in-pod runtime both rely on.

The operator renders pods that run `ferry-fetch` as an init container and `ferry-serve` as
the serving container; both come from `ferry.runtime`. Everything either side must agree on
(ports, paths, exit codes, agent endpoints) lives here and nowhere else. docs/pod-contract.md
explains it in prose.
"""

from enum import IntEnum
from typing import Final

# Ports. Only FRONT_PORT and AGENT_PORT are container ports; TorchServe's own listeners bind
# to loopback so nothing outside the pod can reach them (token auth stays on regardless).
FRONT_PORT: Final = 8080  # authenticated inference front, the Service targets it
AGENT_PORT: Final = 8090  # health, stats and metrics; NetworkPolicy admits only the operator
TS_INFERENCE_PORT: Final = 8085  # 127.0.0.1 only
TS_MANAGEMENT_PORT: Final = 8081  # 127.0.0.1 only
TS_METRICS_PORT: Final = 8082  # 127.0.0.1 only

FRONT_PORT_NAME: Final = "http"
AGENT_PORT_NAME: Final = "agent"

# Agent endpoints (served on AGENT_PORT).
LIVENESS_PATH: Final = "/livez"  # TorchServe's frontend answers at all
READINESS_PATH: Final = "/readyz"  # workers READY and the golden request (if any) passes
STATS_PATH: Final = "/stats"  # cumulative counters as JSON, for analysis and autoscaling
METRICS_PATH: Final = "/metrics"  # Prometheus text: TorchServe's metrics plus the front's

# Paths inside the pod. The root filesystem is read-only; these are volumes.
CONFIG_DIR: Final = "/etc/ferry"  # ConfigMap: CONFIG_PROPERTIES_KEY, SERVE_CONFIG_KEY
CONFIG_PROPERTIES_KEY: Final = "config.properties"
SERVE_CONFIG_KEY: Final = "ferry-serve.json"
MODEL_STORE_DIR: Final = "/models"  # emptyDir: the verified archive lands here
WORK_DIR: Final = "/var/run/ferry"  # emptyDir: TorchServe's cwd, so key_file.json stays here
# A private emptyDir mounted at /tmp in the pod, not the host's shared /tmp.
TMP_DIR: Final = "/tmp"  # noqa: S108 -- TorchServe's TEMP (pid file, sockets, unpacked models)
TERMINATION_LOG: Final = "/dev/termination-log"
PVC_MOUNT_ROOT: Final = "/mnt/pvc"  # pvc://<claim>/<path> is read from /mnt/pvc/<claim>/<path>

FETCH_CONTAINER: Final = "fetch"
SERVE_CONTAINER: Final = "torchserve"


class FetchExit(IntEnum):
    """Exit codes of `ferry-fetch`. The operator maps them to ArtifactVerified reasons."""

    OK = 0
    USAGE = 2
    CHECKSUM_MISMATCH = 10
    NOT_FOUND = 11
    AUTH_FAILED = 12
    UNSUPPORTED_SCHEME = 13
    NETWORK = 14  # transient errors persisted through every retry
    UNSAFE_FORMAT = 15  # e.g. a pickled full model without the explicit opt-in
    INVALID_ARCHIVE = 16  # not a model archive TorchServe can load


def archive_path(model_name: str) -> str:
    """Where the fetched, verified archive of `model_name` is stored in the pod."""
    return f"{MODEL_STORE_DIR}/{model_name}.mar"


# Optional client token (a user Secret mounted by the kubelet): the front requires it as a
# bearer token when present. The operator never reads the Secret.
CLIENT_TOKEN_DIR: Final = "/etc/ferry-client-token"  # noqa: S105 -- a path, not a secret
CLIENT_TOKEN_KEY: Final = "token"  # noqa: S105 -- the Secret's key name
