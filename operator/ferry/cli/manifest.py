"""Pure builder of the ModelDeployment manifest that `ferry package` writes."""

from typing import Any

API_VERSION = "serving.ferry.dev/v1alpha1"
KIND = "ModelDeployment"


def model_deployment(
    *,
    name: str,
    model_name: str,
    version: str,
    uri: str,
    sha256: str,
    workers: int,
    batch_size: int,
    max_batch_delay_ms: int,
    image: str | None = None,
    probe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ready-to-apply ModelDeployment serving one verified archive. Without `image` the
    operator's default serving image applies."""
    model: dict[str, Any] = {"name": model_name, "version": version, "uri": uri, "sha256": sha256}
    if probe is not None:
        model["probe"] = probe
    runtime: dict[str, Any] = {
        "workers": workers,
        "batching": {"maxBatchSize": batch_size, "maxBatchDelayMs": max_batch_delay_ms},
    }
    if image is not None:
        runtime["image"] = image
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "runtime": runtime,
            "resources": {"cpu": "1", "memory": "2Gi", "gpu": 0},
            "replicas": 1,
        },
    }
