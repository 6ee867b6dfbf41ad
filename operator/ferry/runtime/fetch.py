"""`ferry-fetch`: download a model archive, verify its sha256, inspect it, store it atomically.

Runs as the serving pod's init container. It fails closed: on any error nothing is left at
the destination, the exit code says why (`ferry.contract.FetchExit`) and one line goes to
stderr and to the termination log, where the operator reads it for the condition message.
Storage access goes through fsspec (s3fs, gcsfs, its HTTP filesystem); credentials come
from the environment only (docs/pod-contract.md).
"""

import argparse
import contextlib
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ferry import contract
from ferry.contract import FetchExit
from ferry.runtime.archive import InvalidArchiveError, UnsafeArchiveError, inspect_archive
from ferry.runtime.errors import FetchError, classify
from ferry.runtime.sources import open_source

CHUNK_BYTES = 1024 * 1024
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def download(
    uri: str, dest: Path, expected_sha256: str, *, allow_unsafe_pickle: bool, pvc_root: Path
) -> None:
    """Stream `uri` to a temp file beside `dest`, verify and inspect it, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, open_source(uri, pvc_root) as source:
            digest = _copy(source, out)
            out.flush()
            os.fsync(out.fileno())
        if digest != expected_sha256:
            raise FetchError(
                FetchExit.CHECKSUM_MISMATCH,
                f"sha256 mismatch for {uri}: got {digest}, expected {expected_sha256}",
            )
        inspect_archive(temp, allow_unsafe_pickle=allow_unsafe_pickle)
        os.replace(temp, dest)
    except InvalidArchiveError as err:
        raise FetchError(FetchExit.INVALID_ARCHIVE, f"{uri}: {err}") from None
    except UnsafeArchiveError as err:
        raise FetchError(FetchExit.UNSAFE_FORMAT, f"{uri}: {err}") from None
    finally:
        temp.unlink(missing_ok=True)


def _copy(source: IO[bytes], out: IO[bytes]) -> str:
    sha = hashlib.sha256()
    while chunk := source.read(CHUNK_BYTES):
        sha.update(chunk)
        out.write(chunk)
    return sha.hexdigest()


def with_retries(
    attempt: Callable[[], None], retries: int, backoff_seconds: float, uri: str
) -> None:
    """Run `attempt`, retrying transient errors with exponential backoff."""
    for number in range(retries + 1):
        try:
            attempt()
            return
        except FetchError:
            raise
        except Exception as err:
            failure = classify(err, uri)
            if failure.code != FetchExit.NETWORK:
                raise failure from None
            if number == retries:
                raise FetchError(
                    FetchExit.NETWORK, f"{failure.message} (gave up after {retries + 1} attempts)"
                ) from None
            time.sleep(backoff_seconds * 2**number)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferry-fetch", description=__doc__)
    parser.add_argument("--uri", required=True, help="http(s)://, s3://, gs://, pvc://, file://")
    parser.add_argument("--sha256", required=True, help="expected sha256, 64 hex digits")
    parser.add_argument("--dest", required=True, type=Path, help="e.g. /models/<model>.mar")
    parser.add_argument("--allow-unsafe-pickle", action="store_true")
    parser.add_argument("--termination-log", type=Path, default=Path(contract.TERMINATION_LOG))
    parser.add_argument("--retries", type=int, default=4, help="retries of transient errors")
    parser.add_argument("--backoff-seconds", type=float, default=1.0, help="first retry delay")
    parser.add_argument("--pvc-root", type=Path, default=Path(contract.PVC_MOUNT_ROOT))
    return parser


class _UsageError(Exception):
    pass


def _argument_parser_exiting_with_fetch_code() -> argparse.ArgumentParser:
    parser = _parser()

    def error(message: str) -> Any:
        raise _UsageError(message)

    parser.error = error  # type: ignore[method-assign]
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _argument_parser_exiting_with_fetch_code()
    termination_log = Path(contract.TERMINATION_LOG)
    try:
        args = parser.parse_args(argv)
        termination_log = args.termination_log
        sha = args.sha256.strip().lower()
        if not SHA256_PATTERN.match(sha):
            raise FetchError(FetchExit.USAGE, "--sha256 must be 64 hexadecimal digits")
        with_retries(
            lambda: download(
                args.uri,
                args.dest,
                sha,
                allow_unsafe_pickle=args.allow_unsafe_pickle,
                pvc_root=args.pvc_root,
            ),
            args.retries,
            args.backoff_seconds,
            args.uri,
        )
    except _UsageError as err:
        return _fail(FetchError(FetchExit.USAGE, f"bad command line: {err}"), termination_log)
    except FetchError as err:
        return _fail(err, termination_log)
    print(f"ferry-fetch: verified {args.uri} -> {args.dest}")
    return FetchExit.OK


def _fail(err: FetchError, termination_log: Path) -> int:
    line = f"ferry-fetch: {err.message}".splitlines()[0]
    print(line, file=sys.stderr)
    # Outside Kubernetes there may be no termination log; stderr has the line anyway.
    with contextlib.suppress(OSError):
        termination_log.write_text(line + "\n")
    return int(err.code)


if __name__ == "__main__":
    sys.exit(main())
