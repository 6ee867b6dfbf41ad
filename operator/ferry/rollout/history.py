"""The revision history in status: newest first, bounded, and what it keeps alive."""

from collections.abc import Sequence

from ferry.api.status import HistoryEntry


def record(history: Sequence[HistoryEntry], entry: HistoryEntry, limit: int) -> list[HistoryEntry]:
    return [entry, *history][:limit]


def retained(history: Sequence[HistoryEntry], limit: int) -> set[str]:
    """Revisions whose (scaled-to-zero) children are kept for declarative rollback."""
    return {entry.revision for entry in history[:limit]}


def known_good(history: Sequence[HistoryEntry], revision: str) -> bool:
    """The revision served as stable before: going back to it is a rollback, not a trial."""
    return any(e.revision == revision and e.outcome == "Promoted" for e in history)
