"""ferry-fetch against local HTTP, S3 (moto) and GCS (fake-gcs-server) servers, then served."""

import contextlib
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
import torch

from e2e.localcluster.cluster import default_cache
from e2e.localcluster.processes import free_port, wait_until
from ferry.contract import FetchExit

from .conftest import Artifacts, Packager, ServedModel, reference, running

pytestmark = pytest.mark.torchserve

HTTP_TOKEN = "Bearer let-me-in"
ROWS = [[0.3] * 16]
FAKE_GCS_SERVER = default_cache() / "bin" / "fake-gcs-server"  # built by `make binaries`
GS_URI = "gs://models/tiny/1.0/tiny.mar"


@dataclass(frozen=True)
class Origin:
    http: str
    s3_endpoint: str
    s3_key: tuple[str, str]
    archive: Path
    sha256: str


def _http_server(files: dict[str, bytes]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            if name == "private.mar" and self.headers.get("Authorization") != HTTP_TOKEN:
                self.send_error(401)
                return
            body = files.get(name.removeprefix("truncated-"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # A connection that drops half-way: the declared length is never reached.
            self.wfile.write(body[: len(body) // 2] if name.startswith("truncated-") else body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


@contextlib.contextmanager
def _storage_server(
    argv: list[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a local storage server until the block ends; ready once `ready_url` answers."""
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(Path(argv[0]).name, lambda: process.poll() is None and _answers(ready_url), 30)
        yield
    finally:
        process.terminate()
        process.wait()


def _moto(port: int) -> contextlib.AbstractContextManager[None]:
    moto_server = Path(sys.executable).parent / "moto_server"
    # After 4 anonymous admin calls (user, key, policy, bucket) moto enforces IAM auth.
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    argv = [str(moto_server), "-H", "127.0.0.1", "-p", str(port)]
    return _storage_server(argv, f"http://127.0.0.1:{port}/moto-api/", env)


def _s3_bucket_with(data: bytes, endpoint: str) -> tuple[str, str]:
    """An IAM user allowed s3:*, and `data` at s3://models/tiny/1.0/tiny.mar; its key."""
    admin = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="a", aws_secret_access_key="a", **admin)
    iam.create_user(UserName="ferry")
    key = iam.create_access_key(UserName="ferry")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="ferry", PolicyName="s3", PolicyDocument=json.dumps(policy))
    credentials = (key["AccessKeyId"], key["SecretAccessKey"])
    s3 = boto3.client(
        "s3", aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1], **admin
    )
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="tiny/1.0/tiny.mar", Body=data)
    return credentials


@pytest.fixture(scope="module")
def origin(artifacts: Artifacts, package: Packager) -> Iterator[Origin]:
    archive = package(artifacts.export, "tiny_fetched", "--input-shape", "16")
    data = archive.read_bytes()
    pickled = package(
        artifacts.pickled,
        "tiny_pickled",
        "--model-class",
        f"{Path(__file__).parent / 'tinynet.py'}:TinyNet",
        "--allow-unsafe-pickle",
    ).read_bytes()
    files = {"good.mar": data, "private.mar": data, "pickled.mar": pickled, "junk.mar": b"no"}
    server = _http_server(files)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with _moto(port):
            yield Origin(
                http=f"http://127.0.0.1:{server.server_address[1]}",
                s3_endpoint=endpoint,
                s3_key=_s3_bucket_with(data, endpoint),
                archive=archive,
                sha256=hashlib.sha256(data).hexdigest(),
            )
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def gcs_emulator(origin: Origin) -> Iterator[str]:
    """fake-gcs-server on a free loopback port, in memory, holding the archive at GS_URI.

    Its URL, for `STORAGE_EMULATOR_HOST`. The upload goes through GCS's JSON API with plain
    requests, so nothing of the code under test puts the object there.
    """
    if not FAKE_GCS_SERVER.is_file():
        pytest.fail(f"{FAKE_GCS_SERVER} not found: run `make binaries` (e2e/localcluster/build.sh)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(FAKE_GCS_SERVER), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    with _storage_server([*argv, "-backend", "memory"], f"{url}/_internal/healthcheck"):
        requests.post(f"{url}/storage/v1/b", json={"name": "models"}, timeout=10).raise_for_status()
        requests.post(
            f"{url}/upload/storage/v1/b/models/o",
            params={"uploadType": "media", "name": GS_URI.removeprefix("gs://models/")},
            data=origin.archive.read_bytes(),
            timeout=30,
        ).raise_for_status()
        yield url


def fetch(
    uri: str, sha256: str, dest: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ferry.runtime.fetch", "--uri", uri, "--sha256", sha256]
    argv += ["--dest", str(dest), "--termination-log", str(dest.parent / "termination-log")]
    argv += ["--retries", "1", "--backoff-seconds", "0.1", *extra]
    return subprocess.run(
        argv,
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def s3_env(origin: Origin, key: tuple[str, str] | None = None) -> dict[str, str]:
    key_id, secret = key or origin.s3_key
    return {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL": origin.s3_endpoint,
        "AWS_REGION": "us-east-1",
    }


def gs_env(emulator: str) -> dict[str, str]:
    return {"STORAGE_EMULATOR_HOST": emulator}


def test_http_s3_and_gs_artifacts_are_verified_and_served(
    origin: Origin, gcs_emulator: str, tmp_path: Path, artifacts: Artifacts
) -> None:
    stores = {"http": tmp_path / "http", "s3": tmp_path / "s3", "gs": tmp_path / "gs"}
    by_http = fetch(
        f"{origin.http}/good.mar", origin.sha256, stores["http"] / "store/tiny_fetched.mar"
    )
    assert by_http.returncode == 0, by_http.stderr
    by_s3 = fetch(
        "s3://models/tiny/1.0/tiny.mar",
        origin.sha256,
        stores["s3"] / "store/tiny_fetched.mar",
        env=s3_env(origin),
    )
    assert by_s3.returncode == 0, by_s3.stderr
    by_gs = fetch(
        GS_URI, origin.sha256, stores["gs"] / "store/tiny_fetched.mar", env=gs_env(gcs_emulator)
    )
    assert by_gs.returncode == 0, by_gs.stderr
    assert f"verified {GS_URI}" in by_gs.stdout
    models = [ServedModel(root, "tiny_fetched", "1.0") for root in stores.values()]
    with running(*models):
        for model in models:
            model.wait_ready()
            answer = model.predict({"data": ROWS})
            torch.testing.assert_close(
                torch.tensor(answer.json()), reference(artifacts.model, ROWS)
            )


def test_wrong_sha256_fails_closed(origin: Origin, tmp_path: Path) -> None:
    dest = tmp_path / "tiny.mar"
    result = fetch(f"{origin.http}/good.mar", "0" * 64, dest)
    assert result.returncode == FetchExit.CHECKSUM_MISMATCH
    assert "sha256 mismatch" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["termination-log"]  # nothing else
    assert (tmp_path / "termination-log").read_text().strip() == result.stderr.strip()


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("truncated-good.mar", FetchExit.NETWORK, "truncated"),
        ("missing.mar", FetchExit.NOT_FOUND, "not found"),
        ("private.mar", FetchExit.AUTH_FAILED, "denied (HTTP 401)"),
        ("pickled.mar", FetchExit.UNSAFE_FORMAT, "pickled full model"),
        ("junk.mar", FetchExit.INVALID_ARCHIVE, "not a model archive"),
    ],
)
def test_http_failures_have_distinct_codes_and_one_line(
    origin: Origin, tmp_path: Path, path: str, code: FetchExit, words: str
) -> None:
    sha = origin.sha256
    if path in ("pickled.mar", "junk.mar"):  # checksum right, content refused
        sha = hashlib.sha256(requests.get(f"{origin.http}/{path}", timeout=5).content).hexdigest()
    result = fetch(f"{origin.http}/{path}", sha, tmp_path / "tiny.mar")
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "tiny.mar").exists()


def test_http_authorization_comes_from_the_environment(origin: Origin, tmp_path: Path) -> None:
    env = {"FERRY_HTTP_AUTHORIZATION": HTTP_TOKEN}
    result = fetch(f"{origin.http}/private.mar", origin.sha256, tmp_path / "t.mar", env=env)
    assert result.returncode == 0, result.stderr


def test_pickle_is_accepted_only_with_the_opt_in(origin: Origin, tmp_path: Path) -> None:
    data = requests.get(f"{origin.http}/pickled.mar", timeout=5).content
    sha = hashlib.sha256(data).hexdigest()
    uri = f"{origin.http}/pickled.mar"
    assert fetch(uri, sha, tmp_path / "p.mar").returncode == FetchExit.UNSAFE_FORMAT
    assert fetch(uri, sha, tmp_path / "p.mar", "--allow-unsafe-pickle").returncode == 0


def test_s3_bad_credentials_and_missing_keys(origin: Origin, tmp_path: Path) -> None:
    bad = fetch(
        "s3://models/tiny/1.0/tiny.mar",
        origin.sha256,
        tmp_path / "t.mar",
        env=s3_env(origin, ("AKIAWRONGWRONGWRONG", "wrong")),
    )
    assert bad.returncode == FetchExit.AUTH_FAILED, bad.stderr
    assert "denied" in bad.stderr
    missing = fetch("s3://models/nope.mar", origin.sha256, tmp_path / "t.mar", env=s3_env(origin))
    assert missing.returncode == FetchExit.NOT_FOUND, missing.stderr


def test_gs_wrong_sha256_fails_closed(gcs_emulator: str, tmp_path: Path) -> None:
    result = fetch(GS_URI, "0" * 64, tmp_path / "tiny.mar", env=gs_env(gcs_emulator))
    assert result.returncode == FetchExit.CHECKSUM_MISMATCH, result.stderr
    assert f"sha256 mismatch for {GS_URI}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["termination-log"]  # no archive, no .part


@pytest.mark.parametrize("uri", ["gs://models/tiny/9.9/tiny.mar", "gs://no-such-bucket/tiny.mar"])
def test_gs_missing_object_is_not_found(
    origin: Origin, gcs_emulator: str, tmp_path: Path, uri: str
) -> None:
    result = fetch(uri, origin.sha256, tmp_path / "tiny.mar", env=gs_env(gcs_emulator))
    assert result.returncode == FetchExit.NOT_FOUND, result.stderr
    assert result.stderr.startswith(f"ferry-fetch: {uri} not found")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "tiny.mar").exists()


def test_unsupported_scheme_and_bad_arguments(tmp_path: Path) -> None:
    assert (
        fetch("ftp://x/y.mar", "0" * 64, tmp_path / "t.mar").returncode
        == FetchExit.UNSUPPORTED_SCHEME
    )
    assert fetch("file:///x.mar", "xyz", tmp_path / "t.mar").returncode == FetchExit.USAGE
