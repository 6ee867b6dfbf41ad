"""Small helpers shared by the cluster and e2e tiers: polling, and reading kubectl's tables."""

import re
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 60, what: str = ""
) -> T:
    """Poll `probe` until `accept(result)`; fail with the last result seen."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not accept(last):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}: last saw {last!r}"
            )
        time.sleep(0.25)
        last = probe()
    return last


def stays(
    probe: Callable[[], T], accept: Callable[[T], bool], seconds: float, what: str = ""
) -> None:
    """Assert `accept(probe())` holds on every poll for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = probe()
        assert accept(seen), f"{what}: saw {seen!r}"
        time.sleep(0.25)


def table_rows(table: str) -> list[dict[str, str]]:
    """The rows of a table as kubectl prints it (header line first; one-word column names),
    each as column name -> value. An empty cell reads as "", where `split()` would shift
    the columns after it."""
    header, *rows = table.strip("\n").splitlines()
    starts = [word.start() for word in re.finditer(r"\S+", header)]
    spans = list(zip(header.split(), starts, [*starts[1:], None], strict=True))
    return [{name: row[start:end].strip() for name, start, end in spans} for row in rows]
