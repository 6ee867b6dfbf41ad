"""What the user asked of a rollout, read from annotations on the ModelDeployment.

Actions are annotations, not spec fields, so a GitOps re-apply of the manifest neither
undoes them nor shows drift, and the operator still writes nothing but status. Each names
the revision (and step or attempt) it acts on: an annotation left behind from an earlier
rollout is stale and ignored, so actions are level-based and safe to re-apply.

    serving.ferry.dev/promote: <revision>/<step>   go past that step's pause and analysis
    serving.ferry.dev/promote: <revision>/full     skip to the whole new revision
    serving.ferry.dev/abort:   <revision>/<attempt> roll back; stays so until retried
    serving.ferry.dev/retry:   <revision>/<attempt> start attempt <attempt> from step 1
    serving.ferry.dev/pause:   <revision>           hold at the current step while present
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ferry import API_GROUP

PROMOTE: Final = f"{API_GROUP}/promote"
ABORT: Final = f"{API_GROUP}/abort"
RETRY: Final = f"{API_GROUP}/retry"
PAUSE: Final = f"{API_GROUP}/pause"
ALL: Final = (PROMOTE, ABORT, RETRY, PAUSE)
FULL: Final = "full"


def action_value(revision: str, qualifier: int | str | None = None) -> str:
    """The annotation value naming `revision` (and a step, `full` or an attempt)."""
    return revision if qualifier is None else f"{revision}/{qualifier}"


@dataclass(frozen=True)
class Actions:
    """The user's requests that apply to the rollout of `revision` right now."""

    promote_step: int | None = None  # promote past this step
    promote_full: bool = False
    abort_attempt: int | None = None
    retry_attempt: int | None = None
    paused: bool = False


def read_actions(annotations: Mapping[str, str], revision: str) -> Actions:
    """The actions whose annotation names `revision`; anything else is ignored."""

    def qualifier(key: str) -> str | None:
        named, _, rest = (annotations.get(key) or "").strip().partition("/")
        return rest if named == revision and revision else None

    promote, abort, retry = qualifier(PROMOTE), qualifier(ABORT), qualifier(RETRY)
    return Actions(
        promote_step=_number(promote),
        promote_full=promote == FULL,
        abort_attempt=_number(abort),
        retry_attempt=_number(retry),
        paused=(annotations.get(PAUSE) or "").strip() == revision and bool(revision),
    )


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdecimal() else None
