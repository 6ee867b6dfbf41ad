"""A manifest without an image gets the operator's default for its kind (unit world: pure)."""

from datetime import UTC, datetime

import pytest

from ferry.api.parse import DefaultImages, parse_model_deployment
from ferry.build.network import OperatorIdentity
from ferry.build.workload import revision_of
from ferry.reconcile.plan import World, decide
from ferry.settings import FerrySettings
from tests.unit import md_samples as s

pytestmark = pytest.mark.unit

IMAGES = DefaultImages(cpu="registry.local/serve:cpu", gpu="registry.local/serve:cuda")


def without_image(**spec: object) -> dict[str, object]:
    body = s.model_deployment(**spec)
    del body["spec"]["runtime"]
    return body


def test_the_default_follows_resources_gpu() -> None:
    assert parse_model_deployment(without_image(), IMAGES).image == IMAGES.cpu
    gpu = without_image(resources={"gpu": 1})
    assert parse_model_deployment(gpu, IMAGES).image == IMAGES.gpu
    assert parse_model_deployment(s.model_deployment(), IMAGES).image == (
        "ghcr.io/ferry/torchserve:0.12.0-cpu"  # the spec's own wins
    )


def test_a_new_default_is_a_new_revision_so_an_upgrade_rolls_out_as_a_canary() -> None:
    before = revision_of(parse_model_deployment(without_image(), IMAGES))
    upgraded = DefaultImages(cpu="registry.local/serve:cpu-2", gpu=IMAGES.gpu)
    assert revision_of(parse_model_deployment(without_image(), upgraded)) != before
    assert revision_of(parse_model_deployment(without_image(), IMAGES)) == before


def test_the_pods_run_it_and_status_says_which() -> None:
    plan = decide(without_image(), World([], []), datetime.now(UTC), OperatorIdentity("f"),
                  images=IMAGES)  # fmt: skip
    deployment = next(c for c in plan.apply if c["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert {c["image"] for c in [*pod["initContainers"], *pod["containers"]]} == {IMAGES.cpu}
    assert plan.status is not None
    assert plan.status["image"] == IMAGES.cpu


def test_the_operator_takes_its_defaults_from_the_environment() -> None:
    settings = FerrySettings.from_env({"FERRY_SERVING_IMAGE_GPU": "mirror/serve:cuda12"})
    assert settings.images == DefaultImages(gpu="mirror/serve:cuda12")
