"""Pure pieces of the pod runtime: fetch error mapping, key file, front routing, config."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ferry.contract import FetchExit
from ferry.runtime.errors import classify
from ferry.runtime.front import FrontCounters, model_of
from ferry.runtime.keys import KeyFile, parse_keys
from ferry.runtime.serve import KEY_CHECK_SECONDS, key_check_seconds
from ferry.runtime.sources import GCS_EMULATOR_ENV, gcs_filesystem, local_path
from ferry.torchserve.config import (
    ServingConfig,
    endpoints,
    parse_properties,
    render_config_properties,
    render_model_config,
)

pytestmark = pytest.mark.unit

KEY_FILE = """{
  "management": {"key": "M1", "expiration time": "2030-01-01T00:10:00.123456789Z"},
  "inference": {"key": "I1", "expiration time": "2030-01-01T01:00:00Z"},
  "API": {"key": "A1"}
}"""


class HttpStatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def wrapped(cause: Exception) -> FileNotFoundError:
    """fsspec's HTTP filesystem hides the cause behind FileNotFoundError."""
    try:
        raise FileNotFoundError("http://x/m.mar") from cause
    except FileNotFoundError as err:
        return err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (wrapped(HttpStatusError(404)), FetchExit.NOT_FOUND),
        (wrapped(HttpStatusError(403)), FetchExit.AUTH_FAILED),
        (wrapped(HttpStatusError(503)), FetchExit.NETWORK),
        (wrapped(ConnectionRefusedError()), FetchExit.NETWORK),
        (PermissionError("Forbidden"), FetchExit.AUTH_FAILED),
        (FileNotFoundError("models/x.mar"), FetchExit.NOT_FOUND),
        (OSError("An error occurred (InvalidAccessKeyId)"), FetchExit.AUTH_FAILED),
    ],
)
def test_fetch_errors_map_to_exit_codes(error: Exception, code: FetchExit) -> None:
    failure = classify(error, "s3://b/m.mar")
    assert failure.code == code
    assert "\n" not in failure.message


def test_pvc_and_file_uris_are_local_paths() -> None:
    assert local_path("pvc://claim/a/b.mar", Path("/mnt/pvc")) == Path("/mnt/pvc/claim/a/b.mar")
    assert local_path("file:///models/m.mar", Path("/mnt/pvc")) == Path("/models/m.mar")
    assert local_path("s3://b/m.mar", Path("/mnt/pvc")) is None


def service_account_key(path: Path) -> Path:
    """A well-formed service-account key file (its key signs nothing: nothing is sent)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    document = {
        "type": "service_account",
        "project_id": "ferry-test",
        "private_key_id": "1",
        "private_key": pem.decode(),
        "client_email": "fetch@ferry-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(document))
    return path


def test_a_gcs_emulator_gets_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials the pod has for Google must not reach whatever STORAGE_EMULATOR_HOST names.
    key_file = service_account_key(tmp_path / "key.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv(GCS_EMULATOR_ENV, "127.0.0.1:4443")
    fs = gcs_filesystem()
    assert fs.credentials.method == "anon"
    assert fs.credentials.credentials is None  # no Authorization header on any request
    assert fs.base == "http://127.0.0.1:4443/storage/v1/"


def test_keys_parse_and_expire(tmp_path: Path) -> None:
    keys = parse_keys(KEY_FILE)
    assert (keys.inference, keys.management, keys.api) == ("I1", "M1", "A1")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert keys.expiring(now, margin_seconds=900) == ["management"]
    path = tmp_path / "key_file.json"
    key_file = KeyFile(path)
    assert key_file.current() is None
    path.write_text(KEY_FILE)
    assert key_file.current() == keys
    path.write_text('{"management": ')  # TorchServe rewrites in place: keep the last good keys
    assert key_file.refresh() == keys


def test_keys_are_checked_at_least_twice_within_the_renewal_margin() -> None:
    assert key_check_seconds(600) == KEY_CHECK_SECONDS  # the default margin: every 30 s
    assert key_check_seconds(20) == 10


def test_front_counts_by_model_and_outcome() -> None:
    assert model_of("/predictions/resnet/2.0") == "resnet"
    assert model_of("/v2/models/resnet/infer") == "resnet"
    assert model_of("/models") is None
    counters = FrontCounters()
    for status in (200, 200, 400, 503):
        counters.record("m", status, 1000.0)
    counts = counters.models["m"]
    assert (counts.total, counts.errors4xx, counts.errors5xx) == (4, 1, 1)


def test_config_properties_are_hardened_and_deterministic() -> None:
    cfg = ServingConfig(model_name="m", model_version="2", batch_size=8, max_batch_delay_ms=10)
    text = render_config_properties(cfg)
    assert text == render_config_properties(cfg)
    properties = parse_properties(text)
    assert properties["disable_token_authorization"] == "false"
    assert properties["enable_model_api"] == "false"
    assert properties["allowed_urls"] == "^file:///models/.*$"
    assert properties["grpc_management_address"] == "127.0.0.1"
    assert endpoints(properties).management == "http://127.0.0.1:8081"
    assert '"batchSize":8' in properties["models"]
    assert "token_expiration_min" not in properties  # TorchServe's default, left implicit
    short = ServingConfig(model_name="m", model_version="2", token_expiration_min=0.5)
    assert parse_properties(render_config_properties(short))["token_expiration_min"] == "0.5"
    assert "batchSize" not in render_model_config({"format": "export"})
