"""Pure rendering of TorchServe's `config.properties` from Ferry's serving settings.

Shared by the operator (which puts the result in a ConfigMap) and the runtime tests (which
start a real TorchServe from it). The hardening is not optional: token authorization on,
the model register API off, URLs restricted to the local model store, management and
metrics bound to loopback, Prometheus metrics, INFO logging.
"""

import json
from dataclasses import dataclass

from ferry import contract


@dataclass(frozen=True)
class ServingConfig:
    """The TorchServe settings one serving pod needs."""

    model_name: str
    model_version: str
    workers: int = 1
    batch_size: int = 1
    max_batch_delay_ms: int = 0
    response_timeout_s: int = 120
    max_retry_timeout_s: int = 60
    job_queue_size: int = 100
    model_store: str = contract.MODEL_STORE_DIR
    inference_port: int = contract.TS_INFERENCE_PORT
    management_port: int = contract.TS_MANAGEMENT_PORT
    metrics_port: int = contract.TS_METRICS_PORT

    @property
    def archive_file(self) -> str:
        return f"{self.model_name}.mar"


def render_config_properties(cfg: ServingConfig) -> str:
    """Render `config.properties`; the same input always gives byte-identical output."""
    model_settings = {
        cfg.model_name: {
            cfg.model_version: {
                "defaultVersion": True,
                "marName": cfg.archive_file,
                "minWorkers": cfg.workers,
                "maxWorkers": cfg.workers,
                "batchSize": cfg.batch_size,
                "maxBatchDelay": cfg.max_batch_delay_ms,
                "responseTimeout": cfg.response_timeout_s,
                "maxRetryTimeoutInSec": cfg.max_retry_timeout_s,
            }
        }
    }
    properties = {
        "inference_address": f"http://127.0.0.1:{cfg.inference_port}",
        "management_address": f"http://127.0.0.1:{cfg.management_port}",
        "metrics_address": f"http://127.0.0.1:{cfg.metrics_port}",
        "metrics_mode": "prometheus",
        "model_store": cfg.model_store,
        "load_models": cfg.archive_file,
        "models": json.dumps(model_settings, sort_keys=True, separators=(",", ":")),
        "default_workers_per_model": str(cfg.workers),
        "job_queue_size": str(cfg.job_queue_size),
        "default_response_timeout": str(cfg.response_timeout_s),
        # Security: never relax these.
        "disable_token_authorization": "false",
        "enable_model_api": "false",
        "allowed_urls": f"^file://{cfg.model_store}/.*$",
        "enable_envvars_config": "false",
        "install_py_dep_per_model": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())
