"""One `make images` at a time per cache; clones wait for a seed update to finish.

`make test`, `make demo` and `make cluster` all run `make images`, so two can start at once
on one machine (parallel sessions, CI retries): they would build into the same directories.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "images.lock"


@contextlib.contextmanager
def locked(cache: Path, *, shared: bool) -> Iterator[None]:
    """Hold the cache's lock: exclusive to build, shared to read the seed."""
    cache.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with (cache / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another `make images` to finish ({cache / LOCK_FILE})", flush=True)
            fcntl.flock(lock, mode)
        yield
