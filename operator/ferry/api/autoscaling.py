"""`spec.autoscaling`: Ferry's own autoscaler, on the model server's load. Mirrors `crds/`."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from ferry.scaling.policy import Metric, Policy, Rules


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class ScaleUp(_Spec):
    stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    max_step_percent: Annotated[int, Field(ge=1, le=1000)] = 100


class ScaleDown(_Spec):
    stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    max_step_percent: Annotated[int, Field(ge=1, le=100)] = 50


class Autoscaling(_Spec):
    """With it, Ferry owns the replica count (in status) and spec.replicas is ignored."""

    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    metric: Metric = "concurrency"
    target: Annotated[float, Field(gt=0)]
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    scale_up: ScaleUp = ScaleUp()
    scale_down: ScaleDown = ScaleDown()

    @model_validator(mode="after")
    def _bounds(self) -> "Autoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        return self

    def policy(self) -> Policy:
        def rules(direction: ScaleUp | ScaleDown) -> Rules:
            return Rules(direction.stabilization_seconds, direction.max_step_percent)

        return Policy(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            metric=self.metric,
            target=self.target,
            tolerance=self.tolerance,
            scale_up=rules(self.scale_up),
            scale_down=rules(self.scale_down),
        )
