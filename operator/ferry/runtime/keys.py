"""TorchServe's key file (`key_file.json` in its working directory), re-read on change.

TorchServe writes the file in place (not atomically) whenever a key is generated, and keys
expire (`token_expiration_min`), so readers keep the last complete version and notice
changes by the file's mtime and size.
"""

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KEY_FILE_NAME = "key_file.json"


@dataclass(frozen=True)
class Keys:
    inference: str
    management: str
    api: str  # never expires; renews the other two through the token API
    inference_expires: datetime
    management_expires: datetime

    def expiring(self, now: datetime, margin_seconds: float) -> list[str]:
        """The token types (`inference`, `management`) that expire within the margin."""
        deadlines = {"inference": self.inference_expires, "management": self.management_expires}
        return [
            kind for kind, at in deadlines.items() if (at - now).total_seconds() < margin_seconds
        ]


def parse_keys(text: str) -> Keys:
    document = json.loads(text)
    return Keys(
        inference=document["inference"]["key"],
        management=document["management"]["key"],
        api=document["API"]["key"],
        inference_expires=_instant(document["inference"]["expiration time"]),
        management_expires=_instant(document["management"]["expiration time"]),
    )


def _instant(text: str) -> datetime:
    # Java's Instant has nanoseconds; Python keeps microseconds.
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]}").replace(tzinfo=UTC)


class KeyFile:
    """The current keys; `current()` is cheap (one stat) and safe on the hot path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: Keys | None = None

    def current(self) -> Keys | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return self._keys
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._keys = parse_keys(self.path.read_text())
                self._stamp = stamp
            except (OSError, ValueError, KeyError):
                pass  # half-written: keep the last complete keys, retry on the next call
        return self._keys

    def refresh(self) -> Keys | None:
        """Re-read even if the stamp looks unchanged (mtime granularity can hide a rewrite)."""
        self._stamp = None
        return self.current()
