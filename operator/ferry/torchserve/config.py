"""Pure rendering of TorchServe's configuration from Ferry's serving settings.

Shared by the operator (which puts `config.properties` in a ConfigMap), `ferry package`
(which puts the model-config into the archive) and the runtime tests (which start a real
TorchServe from the same text). The hardening is not optional: token authorization on, the
model register API off, URLs restricted to the local model store, management and metrics
bound to loopback (gRPC too: TorchServe cannot switch it off), Prometheus metrics.
Logging comes from `log4j2.xml` beside this module (INFO, console), which the launcher
passes to TorchServe: its default DEBUG logging halves throughput.
"""

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ferry import contract

# TorchServe's own lifetime of the inference and management keys, in minutes (a double).
TORCHSERVE_TOKEN_EXPIRATION_MIN = 60.0


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
    # TorchServe always starts its gRPC APIs; they get loopback too (7070/7071 by default).
    grpc_inference_port: int = 7070
    grpc_management_port: int = 7071
    # Lifetime of TorchServe's inference and management keys, in minutes (fractions allowed);
    # ferry-serve renews them `keyRenewalMarginSeconds` before they expire, so the margin
    # must be shorter than this.
    token_expiration_min: float = TORCHSERVE_TOKEN_EXPIRATION_MIN

    @property
    def archive_file(self) -> str:
        return f"{self.model_name}.mar"

    def model_settings(self) -> dict[str, int]:
        """Workers, batching and timeouts, in TorchServe's per-model key names."""
        return {
            "minWorkers": self.workers,
            "maxWorkers": self.workers,
            "batchSize": self.batch_size,
            "maxBatchDelay": self.max_batch_delay_ms,
            "responseTimeout": self.response_timeout_s,
            "maxRetryTimeoutInSec": self.max_retry_timeout_s,
        }


def render_config_properties(cfg: ServingConfig) -> str:
    """Render `config.properties`; the same input always gives byte-identical output.

    The `models` entry makes the pod's settings win over the archive's model-config, so a
    batching change needs a new ConfigMap, not a new archive.
    """
    model_settings = {
        cfg.model_name: {
            cfg.model_version: {
                "defaultVersion": True,
                "marName": cfg.archive_file,
                **cfg.model_settings(),
            }
        }
    }
    properties = {
        "inference_address": f"http://127.0.0.1:{cfg.inference_port}",
        "management_address": f"http://127.0.0.1:{cfg.management_port}",
        "metrics_address": f"http://127.0.0.1:{cfg.metrics_port}",
        "grpc_inference_address": "127.0.0.1",
        "grpc_inference_port": str(cfg.grpc_inference_port),
        "grpc_management_address": "127.0.0.1",
        "grpc_management_port": str(cfg.grpc_management_port),
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
    # Written only when it differs from TorchServe's default: the text of every existing
    # configuration, and with it every revision hash (ferry.build.workload), stays the same.
    if cfg.token_expiration_min != TORCHSERVE_TOKEN_EXPIRATION_MIN:
        properties["token_expiration_min"] = f"{cfg.token_expiration_min:g}"
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def render_model_config(handler: dict[str, Any]) -> str:
    """Render the archive's model-config.yaml: the handler section only.

    Workers, batching and timeouts stay out on purpose: TorchServe lets an archive's values
    override `models=` in config.properties, and the pod's settings must win.
    """
    return yaml.safe_dump({"handler": handler}, sort_keys=True, default_flow_style=False)


def log4j2_config_path() -> Path:
    """TorchServe's log configuration: INFO to the console, no per-request access log."""
    return Path(str(resources.files("ferry.torchserve").joinpath("log4j2.xml")))


@dataclass(frozen=True)
class Endpoints:
    """TorchServe's loopback listeners, as base URLs."""

    inference: str
    management: str
    metrics: str


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` lines of a Java properties file as rendered above (no continuations)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def endpoints(properties: dict[str, str]) -> Endpoints:
    return Endpoints(
        inference=properties["inference_address"],
        management=properties["management_address"],
        metrics=properties["metrics_address"],
    )
