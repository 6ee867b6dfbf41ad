"""Open an artifact URI for streaming reads, with fsspec and credentials from the environment."""

import os
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import fsspec

from ferry.contract import FetchExit
from ferry.runtime.errors import FetchError

HTTP_AUTHORIZATION_ENV = "FERRY_HTTP_AUTHORIZATION"


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
    if scheme in ("s3", "gs"):
        options: dict[str, Any] = {"skip_instance_cache": True}
        if scheme == "s3" and (endpoint := os.environ.get("AWS_ENDPOINT_URL")):
            options["client_kwargs"] = {"endpoint_url": endpoint}
        fs = fsspec.filesystem(scheme, **options)
        return cast(IO[bytes], fs.open(uri, "rb"))
    raise FetchError(
        FetchExit.UNSUPPORTED_SCHEME,
        f"unsupported URI scheme {scheme or '(none)'!r} in {uri}: use http(s), s3, gs, pvc or file",
    )
