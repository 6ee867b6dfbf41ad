"""Operator settings, from `FERRY_*` environment variables (the chart sets them)."""

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferry.api.parse import DEFAULT_IMAGES, DefaultImages

ENV_PREFIX = "FERRY_"


class SettingsError(ValueError):
    """An environment variable holds a value the operator cannot use; the message names it."""


class FerrySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Periodic full reconcile of every ModelDeployment; watches catch changes in between.
    resync_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Bound on every API request the reconciler makes.
    api_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Delay before kopf retries a reconcile that failed for a transient reason.
    retry_backoff_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Watch streams are reopened after this long (kopf's server-side watch timeout).
    watch_timeout_seconds: Annotated[int, Field(gt=0)] = 300
    # Ferry's autoscaler (spec.autoscaling) evaluates each ModelDeployment this often.
    autoscale_interval_seconds: Annotated[float, Field(ge=1)] = 10.0
    # The serving image of a ModelDeployment without spec.runtime.image, by resources.gpu.
    serving_image_cpu: Annotated[str, Field(min_length=1)] = DEFAULT_IMAGES.cpu
    serving_image_gpu: Annotated[str, Field(min_length=1)] = DEFAULT_IMAGES.gpu
    # Two or more replicas: only the holder of this Lease (in `namespace`) runs.
    leader_election: bool = False
    lease_name: Annotated[str, Field(min_length=1)] = "ferry-operator"
    health_port: Annotated[int, Field(gt=0, lt=65536)] = 8080
    metrics_port: Annotated[int, Field(gt=0, lt=65536)] = 9090
    # Where the operator's own pods run and how they are labelled: model pods admit only
    # these peers to their agent port (NetworkPolicy).
    namespace: Annotated[str, Field(min_length=1)] = "ferry-system"
    pod_labels: dict[str, str] = Field(
        default_factory=lambda: {
            "app.kubernetes.io/name": "ferry",
            "app.kubernetes.io/component": "operator",
        }
    )

    @property
    def images(self) -> DefaultImages:
        return DefaultImages(cpu=self.serving_image_cpu, gpu=self.serving_image_gpu)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "FerrySettings":
        """FERRY_RESYNC_SECONDS=30, FERRY_POD_LABELS=a=b,c=d, ..."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _labels(raw) if name == "pod_labels" else raw
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}"
                for e in error.errors(include_url=False)
            )
            raise SettingsError(problems) from None


def _labels(raw: str) -> dict[str, str]:
    pairs = [item.partition("=") for item in raw.split(",") if item.strip()]
    return {key.strip(): value.strip() for key, _, value in pairs}
