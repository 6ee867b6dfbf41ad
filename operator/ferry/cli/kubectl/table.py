"""The plain pieces every screen is made of: titled tables of strings, ages, short digests."""

from dataclasses import dataclass
from datetime import datetime

SHA_SHOWN = 12


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""  # one line under the title
    empty: str = "none"  # said instead of an empty table


def age(moment: datetime | None, now: datetime) -> str:
    """kubectl's short ages: 45s, 3m12s, 2h5m, 3d."""
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s"
    if hours < 3:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 8 else f"{hours}h"
    return f"{days}d"


def short_sha(sha256: str) -> str:
    return sha256[:SHA_SHOWN] if sha256 else "-"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
