"""TorchServe's keys expire and it never renews them; ferry-serve renews them in time.

TorchServe reads `token_expiration_min` as a double, so the keys here live 24 s instead of
60 min, and ferry-serve renews each one when less than 16 s are left. 24 s is shorter than
ferry-serve's longest interval between two looks at the keys (30 s): renewal is in time only
because it looks at least twice within the margin (every 8 s here). The test serves through
the front and asks /readyz until the first keys it saw are past their expiry: every answer
must be 200, and the keys in the file must be new ones.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from .conftest import Artifacts, Packager, ServedModel, running

pytestmark = pytest.mark.torchserve

KEY_LIFETIME_MIN = 0.4
RENEWAL_MARGIN_SECONDS = 16.0
PAST_EXPIRY = timedelta(seconds=5)
ROWS = [[0.2] * 16]


@pytest.fixture(scope="module")
def short_lived_keys(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, package: Packager
) -> Iterator[ServedModel]:
    model = ServedModel(
        tmp_path_factory.mktemp("keys"),
        "tiny_keys",
        "1.0",
        archive=package(artifacts.torchscript, "tiny_keys"),
        token_expiration_min=KEY_LIFETIME_MIN,
        key_renewal_margin_seconds=RENEWAL_MARGIN_SECONDS,
    )
    with running(model):
        yield model


def answers_until(model: ServedModel, until: datetime) -> set[tuple[int, int]]:
    """(front prediction, /readyz) status pairs, sampled every half second until `until`."""
    seen = set()
    while datetime.now(UTC) < until:
        seen.add((model.predict({"data": ROWS}).status_code, model.readyz()[0]))
        time.sleep(0.5)
    return seen


def test_keys_are_renewed_before_they_expire(short_lived_keys: ServedModel) -> None:
    model = short_lived_keys
    model.wait_ready()
    first = model.keys()
    # The rendered lifetime took effect: TorchServe's default would be 60 minutes.
    assert first.inference_expires - datetime.now(UTC) <= timedelta(minutes=KEY_LIFETIME_MIN)
    assert answers_until(model, first.inference_expires + PAST_EXPIRY) == {(200, 200)}
    renewed = model.keys()
    assert renewed.inference != first.inference
    assert renewed.management != first.management
    assert renewed.inference_expires > first.inference_expires
    assert "renewed TorchServe's inference key" in model.log.read_text()
    # TorchServe itself no longer takes the first key: the renewal was real.
    stale = {"Authorization": f"Bearer {first.inference}"}
    assert requests.get(f"{model.ts_inference}/ping", headers=stale, timeout=5).status_code == 400
