"""Settings of the in-pod launcher (`ferry-serve`), rendered by the operator as JSON.

The operator writes `ServeSettings(...).model_dump_json(by_alias=True)` into the pod's
ConfigMap under `contract.SERVE_CONFIG_KEY`; the launcher reads it back with
`ServeSettings.model_validate_json`. One model, two sides: no hand-kept copies.
TorchServe's own ports are not repeated here: the launcher reads them from config.properties.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ferry import contract


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class ProbeExpectation(_CamelModel):
    """What a golden request must return. Unset fields are not checked."""

    shape: list[int] | None = None
    values: Any = None
    tolerance: float = Field(default=1e-4, ge=0)


class GoldenProbe(_CamelModel):
    """A request sent to the model whose answer decides readiness."""

    request: Any
    expect: ProbeExpectation = ProbeExpectation()
    timeout_seconds: float = Field(default=5.0, gt=0)


class ServeSettings(_CamelModel):
    model_name: str
    model_version: str
    probe: GoldenProbe | None = None
    # When set, the inference front requires `Authorization: Bearer <contents of this file>`.
    client_token_file: str | None = None
    # Where things are in the pod; the defaults are the pod contract, tests override them.
    ts_config: str = f"{contract.CONFIG_DIR}/{contract.CONFIG_PROPERTIES_KEY}"
    work_dir: str = contract.WORK_DIR
    temp_dir: str = contract.TMP_DIR
    bind_host: str = "0.0.0.0"  # noqa: S104 - the Service and the kubelet reach these ports
    front_port: int = contract.FRONT_PORT
    agent_port: int = contract.AGENT_PORT
    # Renew TorchServe's expiring inference/management keys this long before they expire;
    # shorter than their lifetime (`token_expiration_min` in config.properties, 60 min).
    key_renewal_margin_seconds: float = Field(default=600, gt=0)
