"""The ModelDeployment spec as typed models, mirroring `crds/` (camelCase aliases).

The CRD is the gate: it applies defaults and rejects malformed objects at admission. These
models repeat the same constraints so that an object which slipped past an older CRD still
yields a clear error naming the field (see `parse.py`) instead of a crash.
"""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from ferry.api import labels
from ferry.api.autoscaling import Autoscaling
from ferry.api.quantity import canonical_quantity
from ferry.api.rollout import Rollout, Traffic
from ferry.torchserve.settings import GoldenProbe

# Patterns shared with the CRD (a unit test checks that the CRD uses the same ones).
MODEL_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"  # also a label value
MODEL_VERSION_PATTERN = MODEL_NAME_PATTERN
SHA256_PATTERN = r"^[a-fA-F0-9]{64}$"
URI_PATTERN = r"^(https?|s3|gs|file)://[^\s]+$|^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/[^\s]+$"
GPU_RESOURCE_PATTERN = r"^nvidia\.com/(gpu|mig-[0-9]+g\.[0-9]+gb)$"


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


def _positive(quantity: str) -> str:
    if quantity == "0":
        raise ValueError("must be a positive quantity")
    return quantity


Quantity = Annotated[str, BeforeValidator(canonical_quantity), AfterValidator(_positive)]
Name = Annotated[str, Field(min_length=1, max_length=253)]


def _lowercase(value: str) -> str:
    return value.lower()


class SecretReference(_Spec):
    """A Secret in the ModelDeployment's namespace. Only the kubelet reads it."""

    name: Name


class ClientTokenSecretReference(SecretReference):
    key: Annotated[str, Field(min_length=1, max_length=253)] = "token"


class ModelSource(_Spec):
    name: Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
    version: Annotated[str, Field(pattern=MODEL_VERSION_PATTERN)]
    uri: Annotated[str, Field(pattern=URI_PATTERN, max_length=2048)]
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN), AfterValidator(_lowercase)]
    allow_unsafe_pickle: bool = False
    credentials_secret_ref: SecretReference | None = None
    probe: GoldenProbe | None = None


class Batching(_Spec):
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] = 1
    max_batch_delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 0

    @model_validator(mode="after")
    def _delay_needs_batches(self) -> "Batching":
        if self.max_batch_size == 1 and self.max_batch_delay_ms > 0:
            raise ValueError("maxBatchDelayMs only applies when maxBatchSize > 1")
        return self


class Runtime(_Spec):
    # None: the operator's default serving image; parsing resolves it (api.parse).
    image: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    image_pull_secrets: Annotated[list[SecretReference], Field(max_length=8)] = []
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    batching: Batching = Batching()
    response_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 120
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    startup_timeout_seconds: Annotated[int, Field(ge=10, le=7200)] = 600


class Resources(_Spec):
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    gpu: Annotated[int, Field(ge=0, le=64)] = 0
    gpu_resource_name: Annotated[str, Field(pattern=GPU_RESOURCE_PATTERN)] = "nvidia.com/gpu"


class Toleration(_Spec):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class TopologySpreadConstraint(_Spec):
    max_skew: Annotated[int, Field(ge=1)]
    topology_key: Annotated[str, Field(min_length=1, max_length=317)]
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    # Kubernetes LabelSelector; when absent, the ModelDeployment's own pods are spread.
    label_selector: dict[str, Any] | None = None
    min_domains: Annotated[int, Field(ge=1)] | None = None


class Placement(_Spec):
    node_selector: Annotated[dict[str, str], Field(max_length=32)] = {}
    tolerations: Annotated[list[Toleration], Field(max_length=32)] = []
    # Kubernetes Affinity, passed through verbatim; the API server validates it.
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: Annotated[list[TopologySpreadConstraint], Field(max_length=8)] = []


def _unreserved(pod_labels: dict[str, str]) -> dict[str, str]:
    reserved = sorted(key for key in pod_labels if labels.is_reserved(key))
    if reserved:
        raise ValueError(f"{', '.join(reserved)}: Ferry sets these labels itself; remove them")
    return pod_labels


class PodMetadata(_Spec):
    labels: Annotated[dict[str, str], Field(max_length=32), AfterValidator(_unreserved)] = {}
    annotations: Annotated[dict[str, str], Field(max_length=32)] = {}


class Inference(_Spec):
    # Kubernetes NetworkPolicyPeers allowed to reach the inference port; empty means any.
    allowed_sources: Annotated[list[dict[str, Any]], Field(max_length=16)] = []
    client_token_secret_ref: ClientTokenSecretReference | None = None


class ModelDeploymentSpec(_Spec):
    model: ModelSource
    runtime: Runtime = Runtime()
    resources: Resources = Resources()
    placement: Placement = Placement()
    pod_metadata: PodMetadata = PodMetadata()
    replicas: Annotated[int, Field(ge=0, le=1000)] = 1  # ignored with `autoscaling`
    autoscaling: Autoscaling | None = None
    inference: Inference = Inference()
    rollout: Rollout = Rollout()
    traffic: Traffic = Traffic()
    # Revisions kept (scaled to zero) for declarative rollback, and entries in status.history.
    revision_history_limit: Annotated[int, Field(ge=1, le=50)] = 5
