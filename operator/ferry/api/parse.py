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
class DefaultImages:
    """The serving images a ModelDeployment without spec.runtime.image gets (operator
    settings, chart values `servingImages`): GPU builds are large, CPU ones smaller."""

    cpu: str = "ghcr.io/ferry/torchserve:0.12.0-cpu"
    gpu: str = "ghcr.io/ferry/torchserve:0.12.0-gpu"


DEFAULT_IMAGES = DefaultImages()


@dataclass(frozen=True)
class ModelDeployment:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: ModelDeploymentSpec

    @property
    def image(self) -> str:
        """The serving image, resolved (parsing fills spec.runtime.image in)."""
        return self.spec.runtime.image or ""


def parse_model_deployment(
    body: dict[str, Any], images: DefaultImages = DEFAULT_IMAGES
) -> ModelDeployment:
    """The typed object, its serving image resolved: the spec's, else the default for its
    kind (an operator upgrade that changes a default rolls the models out as canaries)."""
    metadata = body.get("metadata") or {}
    try:
        spec = ModelDeploymentSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise SpecError(_describe(error, root="spec")) from None
    if spec.runtime.image is None:
        image = images.gpu if spec.resources.gpu > 0 else images.cpu
        spec = spec.model_copy(update={"runtime": spec.runtime.model_copy(update={"image": image})})
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
