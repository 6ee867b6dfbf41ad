"""Turn a ModelDeployment object (as the API server returns it) into typed models.

Malformed input never raises anything but `SpecError`, whose message names the field.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ferry.api.spec import ModelDeploymentSpec
from ferry.api.status import ModelDeploymentStatus


class SpecError(ValueError):
    """The object cannot be served as written; the message names the field and the problem."""


@dataclass(frozen=True)
class ModelDeployment:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: ModelDeploymentSpec


def parse_model_deployment(body: dict[str, Any]) -> ModelDeployment:
    metadata = body.get("metadata") or {}
    try:
        spec = ModelDeploymentSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise SpecError(_describe(error, root="spec")) from None
    return ModelDeployment(
        name=metadata["name"],
        namespace=metadata["namespace"],
        uid=metadata["uid"],
        generation=int(metadata.get("generation") or 0),
        spec=spec,
    )


def parse_status(body: dict[str, Any]) -> ModelDeploymentStatus:
    """The recorded status; anything unreadable counts as no status (it is ours to rewrite)."""
    try:
        return ModelDeploymentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return ModelDeploymentStatus()


def _describe(error: ValidationError, root: str) -> str:
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join([root, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{path}: {message}")
    return "; ".join(problems)
