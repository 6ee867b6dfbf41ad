"""Progress lines for long steps: what runs, how long it usually takes, how long it took."""

import contextlib
import time
from collections.abc import Iterator


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@contextlib.contextmanager
def step(what: str, usually: str | None = None) -> Iterator[None]:
    """Print `what (usually ...)...` now and `done in ...` (or `failed after ...`) at the end."""
    print(f"{what} ({usually})..." if usually else f"{what}...", flush=True)
    start = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"  failed after {duration(time.monotonic() - start)}", flush=True)
        raise
    print(f"  done in {duration(time.monotonic() - start)}", flush=True)
