"""The ModelDeployment status as typed models, mirroring `crds/`."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

ConditionStatus = Literal["True", "False", "Unknown"]


def rfc3339(moment: datetime) -> str:
    """metav1.Time: whole seconds, UTC, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339)]


class _Status(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Condition(_Status):
    """Shaped like metav1.Condition."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    observed_generation: int = 0
    last_transition_time: Timestamp


class ModelDeploymentStatus(_Status):
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)
    replicas: int = 0
    ready_replicas: int = 0
    selector: str = ""
    # The revision the current spec describes, and the one that last became fully ready:
    # they differ while a new revision rolls out (or fails to).
    revision: str = ""
    stable_revision: str = ""
    # The model version of the stable revision: what answers requests.
    model_version: str = ""
    url: str = ""

    def condition(self, condition_type: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == condition_type), None)

    def to_body(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
