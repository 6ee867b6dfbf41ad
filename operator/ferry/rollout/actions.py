"""What the user asked of a rollout, read from annotations on the ModelDeployment.

Actions are annotations, not spec fields, so a GitOps re-apply of the manifest neither
undoes them nor shows drift, and the operator still writes nothing but status. Each names
the revision and the attempt (and the step) it acts on: an annotation left behind from an
earlier rollout, or an earlier attempt of this one, is stale and ignored, so actions are
level-based and safe to re-apply. Attempt numbers are unique among a revision's rollouts
(`status.rollout.attempt`).

    serving.ferry.dev/promote: <revision>/<attempt>/<step>  go past that step's pause and analysis
    serving.ferry.dev/promote: <revision>/<attempt>/full    skip to the whole new revision
    serving.ferry.dev/abort:   <revision>/<attempt>         roll back; stays so until retried
    serving.ferry.dev/retry:   <revision>/<attempt>         start attempt <attempt> from step 1
    serving.ferry.dev/pause:   <revision>                   hold at the current step while present
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ferry import API_GROUP

PROMOTE: Final = f"{API_GROUP}/promote"
ABORT: Final = f"{API_GROUP}/abort"
RETRY: Final = f"{API_GROUP}/retry"
PAUSE: Final = f"{API_GROUP}/pause"
ALL: Final = (PROMOTE, ABORT, RETRY, PAUSE)
FULL: Final = "full"


def promote_value(revision: str, attempt: int, step: int | Literal["full"]) -> str:
    return f"{revision}/{attempt}/{step}"


def abort_value(revision: str, attempt: int) -> str:
    return f"{revision}/{attempt}"


def retry_value(revision: str, attempt: int) -> str:
    return f"{revision}/{attempt}"


def pause_value(revision: str) -> str:
    return revision


@dataclass(frozen=True)
class Actions:
    """The user's requests that name the rollout of one revision."""

    promote: tuple[int, int | Literal["full"]] | None = None  # (attempt, step or full)
    abort_attempt: int | None = None
    retry_attempt: int | None = None
    paused: bool = False

    def promotes(self, attempt: int, step: int) -> bool:
        return self.promote == (attempt, step)

    def promotes_full(self, attempt: int) -> bool:
        return self.promote == (attempt, FULL)


def read_actions(annotations: Mapping[str, str], revision: str) -> Actions:
    """The actions whose annotation names `revision`; anything else is ignored."""

    def parts(key: str) -> list[str] | None:
        named, *rest = (annotations.get(key) or "").strip().split("/")
        return rest if named == revision and revision else None

    return Actions(
        promote=_promotion(parts(PROMOTE)),
        abort_attempt=_attempt(parts(ABORT)),
        retry_attempt=_attempt(parts(RETRY)),
        paused=(annotations.get(PAUSE) or "").strip() == revision and bool(revision),
    )


def _attempt(parts: list[str] | None) -> int | None:
    if parts is None or len(parts) != 1 or not parts[0].isdecimal():
        return None
    return int(parts[0])


def _promotion(parts: list[str] | None) -> tuple[int, int | Literal["full"]] | None:
    if parts is None or len(parts) != 2 or not parts[0].isdecimal():
        return None
    attempt, step = int(parts[0]), parts[1]
    if step == FULL:
        return attempt, FULL
    return (attempt, int(step)) if step.isdecimal() else None
