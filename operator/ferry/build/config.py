"""The per-revision ConfigMap: TorchServe's `config.properties` and the launcher settings."""

from typing import Any

from ferry import contract
from ferry.api.parse import ModelDeployment
from ferry.build.meta import object_meta, revision_child_name, revision_labels
from ferry.torchserve.config import ServingConfig, render_config_properties
from ferry.torchserve.settings import ServeSettings


def client_token_file(md: ModelDeployment) -> str | None:
    if md.spec.inference.client_token_secret_ref is None:
        return None
    return f"{contract.CLIENT_TOKEN_DIR}/{contract.CLIENT_TOKEN_KEY}"


def config_data(md: ModelDeployment) -> dict[str, str]:
    model, runtime = md.spec.model, md.spec.runtime
    serving = ServingConfig(
        model_name=model.name,
        model_version=model.version,
        workers=runtime.workers,
        batch_size=runtime.batching.max_batch_size,
        max_batch_delay_ms=runtime.batching.max_batch_delay_ms,
        response_timeout_s=runtime.response_timeout_seconds,
        job_queue_size=runtime.queue_size,
    )
    launcher = ServeSettings(
        model_name=model.name,
        model_version=model.version,
        probe=model.probe,
        client_token_file=client_token_file(md),
    )
    return {
        contract.CONFIG_PROPERTIES_KEY: render_config_properties(serving),
        contract.SERVE_CONFIG_KEY: launcher.model_dump_json(by_alias=True),
    }


def config_map(md: ModelDeployment, revision: str) -> dict[str, Any]:
    """Immutable: a revision's configuration never changes, a new one gets a new name."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            md, revision_child_name(md.name, revision), revision_labels(md, revision)
        ),
        "immutable": True,
        "data": config_data(md),
    }
