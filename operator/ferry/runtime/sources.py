"""Open an artifact URI for streaming reads, with fsspec and credentials from the environment."""

import os
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import fsspec
from gcsfs.core import GCSFileSystem

from ferry.contract import FetchExit
from ferry.runtime.errors import FetchError

HTTP_AUTHORIZATION_ENV = "FERRY_HTTP_AUTHORIZATION"
# When set, gcsfs sends gs:// requests to this host (a GCS emulator) instead of Google.
GCS_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
GCS_NO_CREDENTIALS = "anon"  # gcsfs's `token` value for unauthenticated requests


def local_path(uri: str, pvc_root: Path) -> Path | None:
    """The filesystem path of a file:// or pvc://<claim>/<path> URI; None for remote URIs."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(parts.path)
    if parts.scheme == "pvc":
        return pvc_root / parts.netloc / parts.path.lstrip("/")
    return None


def open_source(uri: str, pvc_root: Path) -> IO[bytes]:
    """A binary stream of the artifact. Errors are left to `errors.classify`."""
    path = local_path(uri, pvc_root)
    if path is not None:
        return path.open("rb")
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        headers = {}
        if authorization := os.environ.get(HTTP_AUTHORIZATION_ENV):
            headers["Authorization"] = authorization
        fs = fsspec.filesystem(scheme, client_kwargs={"headers": headers}, skip_instance_cache=True)
        # block_size=0 streams the body instead of issuing range requests.
        return cast(IO[bytes], fs.open(uri, "rb", block_size=0))
    if scheme == "s3":
        options: dict[str, Any] = {"skip_instance_cache": True}
        if endpoint := os.environ.get("AWS_ENDPOINT_URL"):
            options["client_kwargs"] = {"endpoint_url": endpoint}
        return cast(IO[bytes], fsspec.filesystem("s3", **options).open(uri, "rb"))
    if scheme == "gs":
        return cast(IO[bytes], gcs_filesystem().open(uri, "rb"))
    raise FetchError(
        FetchExit.UNSUPPORTED_SCHEME,
        f"unsupported URI scheme {scheme or '(none)'!r} in {uri}: use http(s), s3, gs, pvc or file",
    )


def gcs_filesystem() -> Any:
    """gcsfs for gs://, anonymous when `STORAGE_EMULATOR_HOST` points it at an emulator."""
    if os.environ.get(GCS_EMULATOR_ENV, "") in ("", "default"):  # unset, as gcsfs reads it
        return fsspec.filesystem("gs", skip_instance_cache=True)
    # An emulator checks no credentials, so none are sent: real ones never reach it, and
    # google-auth does not probe the GCE metadata server looking for some. The plain
    # GCSFileSystem skips what gcsfs's default ExtendedGcsFileSystem does before each open:
    # ask Google's gRPC Storage Control API for the bucket's layout, which emulators do not
    # serve (anonymously it retries for 60 s, then falls back). Reads of a non-zonal bucket
    # go through the same GCSFile and JSON API either way.
    return GCSFileSystem(token=GCS_NO_CREDENTIALS, skip_instance_cache=True)
