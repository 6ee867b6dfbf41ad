"""A failure a user must act on, as it appears in conditions and events."""

from dataclasses import dataclass

MAX_MESSAGE = 1024


@dataclass(frozen=True)
class Failure:
    """A condition reason and a message saying what went wrong and how to fix it."""

    reason: str
    message: str


def truncate(message: str) -> str:
    """One line, bounded: termination messages and scheduler verdicts can be long."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
