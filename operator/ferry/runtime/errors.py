"""Map storage-library errors to `ferry-fetch` exit codes and one-line messages. Pure.

fsspec's HTTP filesystem reports every failure to open as FileNotFoundError and keeps the
real cause (an HTTP status or a connection error) in the exception chain, so the chain is
read before the outer type.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from ferry.contract import FetchExit


@dataclass
class FetchError(Exception):
    code: FetchExit
    message: str

    def __str__(self) -> str:
        return self.message


AUTH_STATUSES = (401, 403)
AUTH_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")
TRANSIENT_NAMES = ("ClientConnectorError", "ServerDisconnectedError", "ClientPayloadError")


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def classify(err: BaseException, uri: str) -> FetchError:
    """The exit code and message for an exception raised while reading `uri`."""
    for cause in _chain(err):
        known = _from_cause(cause, uri)
        if known is not None:
            return known
    text = _first_line(err)
    if isinstance(err, PermissionError) or any(code in text for code in AUTH_CODES):
        return FetchError(FetchExit.AUTH_FAILED, f"access to {uri} denied ({text})")
    if isinstance(err, FileNotFoundError):
        return FetchError(FetchExit.NOT_FOUND, f"{uri} not found ({text})")
    return FetchError(FetchExit.NETWORK, f"cannot read {uri}: {type(err).__name__}: {text}")


def _from_cause(cause: BaseException, uri: str) -> FetchError | None:
    status = getattr(cause, "status", None)
    name = type(cause).__name__
    if status == 404:
        return FetchError(FetchExit.NOT_FOUND, f"{uri} not found (HTTP 404)")
    if status in AUTH_STATUSES:
        return FetchError(FetchExit.AUTH_FAILED, f"access to {uri} denied (HTTP {status})")
    if isinstance(status, int) and status >= 500:
        return FetchError(FetchExit.NETWORK, f"cannot read {uri}: HTTP {status}")
    if name == "ClientPayloadError" or "ContentLength" in name:
        return FetchError(FetchExit.NETWORK, f"download of {uri} was truncated")
    if name in TRANSIENT_NAMES or isinstance(cause, ConnectionError | TimeoutError):
        return FetchError(FetchExit.NETWORK, f"cannot reach {uri}: {_first_line(cause)}")
    return None
