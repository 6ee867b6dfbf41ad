"""The two containers of a model-server pod, exactly as docs/pod-contract.md describes them."""

import math
from typing import Any, Final

from ferry import contract
from ferry.api.spec import ModelDeploymentSpec

# Volume names; the pod builder declares them, the containers mount them.
CONFIG_VOLUME: Final = "config"
MODELS_VOLUME: Final = "models"
WORK_VOLUME: Final = "work"
TMP_VOLUME: Final = "tmp"
CLIENT_TOKEN_VOLUME: Final = "client-token"  # noqa: S105 (a volume name)
ARTIFACT_SOURCE_VOLUME: Final = "artifact-source"


def container_security() -> dict[str, Any]:
    """Pod Security `restricted`, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# A replica turns Ready at a startup probe: a short period means it serves soon after loading.
STARTUP_PERIOD_SECONDS: Final = 2
READINESS_PERIOD_SECONDS: Final = 5
# A pod told to stop keeps answering this long first: endpoints, kube-proxy's rules (or a
# gateway) drop it a moment after its deletion, and requests routed meanwhile must not
# meet a closed port. Within the default 30 s grace period, with TorchServe's stop after.
DRAIN_SECONDS: Final = 5
LIVENESS_PERIOD_SECONDS: Final = 10
# The agent answers /livez within 2 s (it pings TorchServe with that timeout).
LIVENESS_TIMEOUT_SECONDS: Final = 3


def pvc_claim(uri: str) -> str | None:
    """The claim of a `pvc://<claim>/<path>` URI, else None."""
    if not uri.startswith("pvc://"):
        return None
    return uri.removeprefix("pvc://").partition("/")[0]


def fetch_container(spec: ModelDeploymentSpec) -> dict[str, Any]:
    model = spec.model
    mounts = [_mount(MODELS_VOLUME, contract.MODEL_STORE_DIR), _mount(TMP_VOLUME, contract.TMP_DIR)]
    claim = pvc_claim(model.uri)
    if claim is not None:
        # The kubelet mounts the claim; ferry-fetch reads it there and needs no API access.
        claim_dir = f"{contract.PVC_MOUNT_ROOT}/{claim}"
        mounts.append(_mount(ARTIFACT_SOURCE_VOLUME, claim_dir, read_only=True))
    command = [
        "ferry-fetch",
        "--uri", model.uri,
        "--sha256", model.sha256,
        "--dest", contract.archive_path(model.name),
    ]  # fmt: skip
    if model.allow_unsafe_pickle:
        command.append("--allow-unsafe-pickle")
    container: dict[str, Any] = {
        "name": contract.FETCH_CONTAINER,
        "image": spec.runtime.image,
        "command": command,
        "resources": _resources(spec, gpus=False),
        "securityContext": container_security(),
        "volumeMounts": mounts,
        # ferry-fetch writes its one-line verdict there; logs are the fallback for crashes.
        "terminationMessagePath": contract.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if model.credentials_secret_ref is not None:
        container["envFrom"] = [{"secretRef": {"name": model.credentials_secret_ref.name}}]
    return container


def serve_container(spec: ModelDeploymentSpec) -> dict[str, Any]:
    mounts = [
        _mount(CONFIG_VOLUME, contract.CONFIG_DIR, read_only=True),
        # Read-only: the serving process can load the verified archive but never alter it.
        _mount(MODELS_VOLUME, contract.MODEL_STORE_DIR, read_only=True),
        _mount(WORK_VOLUME, contract.WORK_DIR),
        _mount(TMP_VOLUME, contract.TMP_DIR),
    ]
    if spec.inference.client_token_secret_ref is not None:
        mounts.append(_mount(CLIENT_TOKEN_VOLUME, contract.CLIENT_TOKEN_DIR, read_only=True))
    return {
        "name": contract.SERVE_CONTAINER,
        "image": spec.runtime.image,
        "command": [
            "ferry-serve",
            "--config",
            f"{contract.CONFIG_DIR}/{contract.SERVE_CONFIG_KEY}",
        ],
        "ports": [
            {
                "name": contract.FRONT_PORT_NAME,
                "containerPort": contract.FRONT_PORT,
                "protocol": "TCP",
            },
            {
                "name": contract.AGENT_PORT_NAME,
                "containerPort": contract.AGENT_PORT,
                "protocol": "TCP",
            },
        ],
        "resources": _resources(spec, gpus=True),
        "securityContext": container_security(),
        "volumeMounts": mounts,
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
        **_probes(spec),
    }


def _probes(spec: ModelDeploymentSpec) -> dict[str, Any]:
    # /readyz may run the golden request: give it its own timeout plus a margin.
    probe = spec.model.probe
    readiness_timeout = math.ceil(probe.timeout_seconds) + 2 if probe else 3
    startup_failures = math.ceil(spec.runtime.startup_timeout_seconds / STARTUP_PERIOD_SECONDS)
    return {
        "startupProbe": _http_probe(
            contract.READINESS_PATH, STARTUP_PERIOD_SECONDS, readiness_timeout, startup_failures
        ),
        "readinessProbe": _http_probe(
            contract.READINESS_PATH, READINESS_PERIOD_SECONDS, readiness_timeout, 2
        ),
        "livenessProbe": _http_probe(
            contract.LIVENESS_PATH, LIVENESS_PERIOD_SECONDS, LIVENESS_TIMEOUT_SECONDS, 3
        ),
    }


def _http_probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": contract.AGENT_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _resources(spec: ModelDeploymentSpec, *, gpus: bool) -> dict[str, Any]:
    # No CPU limit: throttling hurts latency more than sharing idle CPU does.
    resources = spec.resources
    limits = {"memory": resources.memory}
    if gpus and resources.gpu > 0:
        limits[resources.gpu_resource_name] = str(resources.gpu)
    return {"requests": {"cpu": resources.cpu, "memory": resources.memory}, "limits": limits}


def _mount(volume: str, path: str, *, read_only: bool = False) -> dict[str, Any]:
    # `readOnly: false` is omitted: the API server drops it and the child would look drifted.
    mount: dict[str, Any] = {"name": volume, "mountPath": path}
    if read_only:
        mount["readOnly"] = True
    return mount
