"""Label keys Ferry puts on every child and pod: part of the API users select on."""

from typing import Final

from ferry import API_GROUP

MODEL_DEPLOYMENT: Final = f"{API_GROUP}/model-deployment"  # the owner's name; the selector
REVISION: Final = f"{API_GROUP}/revision"  # the pod-template hash of one revision

NAME: Final = "app.kubernetes.io/name"  # the TorchServe model name
INSTANCE: Final = "app.kubernetes.io/instance"  # the ModelDeployment's name
VERSION: Final = "app.kubernetes.io/version"  # the model version (revision children only)
COMPONENT: Final = "app.kubernetes.io/component"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"

COMPONENT_VALUE: Final = "model-server"
MANAGED_BY_VALUE: Final = "ferry"

# Users may not set these through spec.podMetadata.labels: Ferry's selectors rely on them.
RESERVED_PREFIX: Final = f"{API_GROUP}/"
RESERVED_KEYS: Final = (NAME, INSTANCE, VERSION, COMPONENT, MANAGED_BY)


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIX) or key in RESERVED_KEYS
