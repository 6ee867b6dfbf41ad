"""The CRD and the operator's typed models agree (unit world: pure, reads crds/ and charts/)."""

import copy
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ferry.api import spec as spec_models
from ferry.api.parse import parse_model_deployment
from ferry.api.spec import ModelDeploymentSpec
from ferry.api.status import Condition, ModelDeploymentStatus
from ferry.cli.manifest import model_deployment as packaged
from ferry.rollout import actions
from tests.unit.md_samples import model_deployment

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = "modeldeployments.serving.ferry.dev.yaml"


def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "crds" / CRD_FILE).read_text())
    return loaded


def version() -> dict[str, Any]:
    (served,) = crd()["spec"]["versions"]
    return dict(served)


def schema(*path: str) -> dict[str, Any]:
    node: dict[str, Any] = version()["schema"]["openAPIV3Schema"]
    for part in path:
        node = node["properties"][part]
    return node


def test_chart_ships_the_same_crd() -> None:
    assert (ROOT / "charts/ferry/crds" / CRD_FILE).read_bytes() == (
        ROOT / "crds" / CRD_FILE
    ).read_bytes()


def test_names_scale_and_status_subresources() -> None:
    names = crd()["spec"]["names"]
    assert names["shortNames"] == ["md", "mdep"]
    assert names["categories"] == ["ferry"]
    assert version()["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns_show_version_replicas_readiness_and_age() -> None:
    columns = {c["name"]: c["jsonPath"] for c in version()["additionalPrinterColumns"]}
    assert columns["Version"] == ".spec.model.version"
    assert columns["Serving"] == ".status.modelVersion"
    assert columns["Replicas"] == ".spec.replicas"
    assert columns["Available"] == ".status.readyReplicas"
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Age"] == ".metadata.creationTimestamp"


def _rule_text(node: dict[str, Any]) -> str:
    # CEL string literals escape backslashes; undo that to compare with Python regexes.
    return " ".join(r["rule"] for r in node["x-kubernetes-validations"]).replace("\\\\", "\\")


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (("spec", "model", "name"), spec_models.MODEL_NAME_PATTERN),
        (("spec", "model", "version"), spec_models.MODEL_VERSION_PATTERN),
        (("spec", "model", "sha256"), spec_models.SHA256_PATTERN),
        (("spec", "resources", "gpuResourceName"), spec_models.GPU_RESOURCE_PATTERN),
    ],
)
def test_crd_rules_use_the_models_patterns(path: tuple[str, ...], pattern: str) -> None:
    assert f"'{pattern}'" in _rule_text(schema(*path))


def _properties(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `list[Toleration]` or `GoldenProbe | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _assert_mirrors(model: type[BaseModel], node: dict[str, Any], where: str) -> None:
    node = node.get("items", node)
    declared = set(node.get("properties", {}))
    assert set(_properties(model)) == declared, where
    for name, annotation in _properties(model).items():
        nested = _nested_model(annotation)
        child = node["properties"][name]
        if nested is not None and "properties" in child.get("items", child):
            _assert_mirrors(nested, child, f"{where}.{name}")


def test_spec_models_mirror_the_crd_schema() -> None:
    _assert_mirrors(ModelDeploymentSpec, schema("spec"), "spec")


def test_every_status_field_is_declared() -> None:
    # Undeclared status fields would be pruned by the API server without a word.
    _assert_mirrors(ModelDeploymentStatus, schema("status"), "status")
    conditions = schema("status", "conditions")["items"]
    assert set(_properties(Condition)) == set(conditions["properties"])


def _apply_defaults(node: dict[str, Any], value: Any) -> Any:
    """What the API server's structural defaulting does to `value`."""
    if not isinstance(value, dict) or "properties" not in node:
        return value
    for name, child in node["properties"].items():
        if name not in value and "default" in child:
            value[name] = copy.deepcopy(child["default"])
        if name in value:
            value[name] = _apply_defaults(child, value[name])
    return value


def test_crd_defaults_equal_the_models_defaults() -> None:
    minimal = model_deployment()["spec"]
    defaulted = _apply_defaults(schema("spec"), copy.deepcopy(minimal))
    assert defaulted != minimal  # the CRD did fill something in
    assert ModelDeploymentSpec.model_validate(defaulted) == ModelDeploymentSpec.model_validate(
        minimal
    )


def _unknown_fields(obj: Any, node: dict[str, Any], path: str) -> list[str]:
    """Paths in `obj` the CRD schema does not declare (strict decoding would refuse them)."""
    if not isinstance(obj, dict) or node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    declared = node.get("properties") or {}
    unknown = [f"{path}.{key}" for key in obj if key not in declared]
    return unknown + [
        missing
        for key, value in obj.items()
        if key in declared
        for missing in _unknown_fields(value, declared[key], f"{path}.{key}")
    ]


def test_the_manifest_ferry_package_writes_uses_only_declared_fields() -> None:
    manifest = packaged(
        name="tiny", model_name="tiny", version="1.0.0", uri="http://x/tiny.mar", sha256="0" * 64,
        workers=2, batch_size=8, max_batch_delay_ms=5,
        probe={"request": {"data": [[0.0]]}, "expect": {"shape": [1, 4]}},
    )  # fmt: skip
    assert _unknown_fields(manifest["spec"], schema("spec"), "spec") == []
    md = parse_model_deployment(manifest | {"metadata": {"name": "tiny", "namespace": "ml",
                                                         "uid": "u"}})  # fmt: skip
    assert (md.spec.runtime.workers, md.image) == (2, "ghcr.io/ferry/torchserve:0.12.0-cpu")


def test_the_rollout_actions_policy_allows_exactly_the_annotations_the_operator_reads() -> None:
    policy = (ROOT / "charts/ferry/templates/rollout-actions.yaml").read_text()
    listed = set(re.findall(r"'(serving\.ferry\.dev/[a-z-]+)'", policy))
    assert listed == set(actions.ALL)
