"""`kubectl ferry status`: is the object Ready for the generation it declares? Pure."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferry.api.parse import parse_status


@dataclass(frozen=True)
class Verdict:
    ready: bool
    text: str


def verdict(ref: str, md: Mapping[str, Any]) -> Verdict:
    """Ready=True for the current generation, or why not (the Ready reason and message)."""
    status = parse_status(dict(md))
    generation = int((md.get("metadata") or {}).get("generation") or 0)
    ready = status.condition("Ready")
    if status.observed_generation != generation:
        return Verdict(
            False,
            f"{ref}: not observed yet (status describes generation "
            f"{status.observed_generation}, the object is at {generation})",
        )
    if ready is None:
        return Verdict(False, f"{ref}: no Ready condition yet")
    text = f"{ref}: Ready={ready.status} {ready.reason}"
    if ready.message:
        text += f": {ready.message}"
    return Verdict(ready.status == "True", text)
