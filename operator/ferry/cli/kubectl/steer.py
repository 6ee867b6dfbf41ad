"""Which rollout-action annotation a command writes, decided from the object's status. Pure.

The annotation format is `ferry.rollout.actions`' (the operator reads it there); this module
only chooses the revision, step and attempt they name, and says what the change means.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ferry.api.status import ModelDeploymentStatus, RolloutStatus
from ferry.rollout import actions

Verb = Literal["promote", "promote-full", "abort", "retry", "pause", "resume"]
ACTIVE = ("Progressing", "Paused")  # the phases of a rollout still under way
ENDED = {"RolledBack": "rolled back", "Aborted": "aborted"}


class RefusedError(Exception):
    """Nothing to act on: the message says why (and what would work)."""


@dataclass(frozen=True)
class Change:
    """Annotations to set (a value) or remove (None), and what that does, in words."""

    annotations: Mapping[str, str | None] = field(default_factory=dict)
    summary: str = ""

    @property
    def empty(self) -> bool:
        return not self.annotations

    def merge_patch(self) -> dict[str, object]:
        return {"metadata": {"annotations": dict(self.annotations)}}


def plan(
    verb: Verb, ref: str, status: ModelDeploymentStatus, annotations: Mapping[str, str]
) -> Change:
    """The change for `verb` on the object `ref` (`md/<name>`), or `RefusedError`."""
    rollout = status.rollout
    if verb == "retry":
        return _retry(ref, status, annotations)
    if verb == "resume":
        return _resume(ref, rollout, annotations)
    if rollout is None or rollout.phase not in ACTIVE:
        raise RefusedError(
            f"{ref} has no rollout in progress: nothing to {_word(verb)}{_ended(rollout)}"
        )
    what = _what(rollout)
    if verb == "promote":
        value = actions.promote_value(rollout.revision, rollout.attempt, rollout.step)
        past = f"step {rollout.step}/{rollout.total_steps} ({rollout.step_weight}%)"
        if rollout.step == rollout.total_steps:
            past += ", the last: it becomes stable once every canary replica answers"
        return _set(
            annotations, actions.PROMOTE, value, f"promoted {ref} past {past}: {what}",
            f"{ref}: promotion past step {rollout.step} already requested; "
            "waiting for the operator",
        )  # fmt: skip
    if verb == "promote-full":
        value = actions.promote_value(rollout.revision, rollout.attempt, actions.FULL)
        return _set(
            annotations, actions.PROMOTE, value,
            f"promoted {ref} to 100% at once (from step {rollout.step}/{rollout.total_steps}): "
            f"{what}",
            f"{ref}: full promotion already requested; waiting for the operator",
        )  # fmt: skip
    if verb == "abort":
        value = actions.abort_value(rollout.revision, rollout.attempt)
        return _set(
            annotations, actions.ABORT, value,
            f"aborted the rollout of {ref} at step {rollout.step}/{rollout.total_steps}: {what} "
            f"goes to zero, {status.stable_revision} serves everything "
            f"(kubectl ferry retry {ref} to try it again)",
            f"{ref}: abort already requested; waiting for the operator",
        )  # fmt: skip
    value = actions.pause_value(rollout.revision)
    return _set(
        annotations, actions.PAUSE, value,
        f"paused {ref} at step {rollout.step}/{rollout.total_steps} ({rollout.step_weight}%): "
        f"{what} (kubectl ferry resume {ref} to go on)",
        f"{ref} is already paused at step {rollout.step}/{rollout.total_steps}",
    )  # fmt: skip


def _retry(ref: str, status: ModelDeploymentStatus, annotations: Mapping[str, str]) -> Change:
    rollout = status.rollout
    if rollout is None or rollout.phase not in ENDED:
        state = "no rollout" if rollout is None else f"its rollout is {rollout.phase}"
        raise RefusedError(
            f"{ref}: {state}; retry works only after a rollback or an abort: nothing to retry"
        )
    if status.revision and rollout.revision != status.revision:
        raise RefusedError(
            f"{ref}: the spec now describes revision {status.revision}, not the "
            f"{ENDED[rollout.phase]} {rollout.revision}: nothing to retry"
        )
    attempt = rollout.attempt + 1
    change: dict[str, str | None] = {actions.RETRY: actions.retry_value(rollout.revision, attempt)}
    # Stale once the new attempt starts (they name an earlier one); removed to keep it tidy.
    for key in (actions.ABORT, actions.PROMOTE):
        if key in annotations:
            change[key] = None
    summary = (
        f"retrying {ref}: {_what(rollout)}, attempt {attempt}, from step 1 "
        f"(it was {ENDED[rollout.phase]}: {rollout.reason})"
    )
    if (annotations.get(actions.PAUSE) or "") == rollout.revision:
        summary += f"; still paused by the user (kubectl ferry resume {ref})"
    return Change(change, summary)


def _resume(ref: str, rollout: RolloutStatus | None, annotations: Mapping[str, str]) -> Change:
    if rollout is None or rollout.phase not in ACTIVE:
        raise RefusedError(f"{ref} has no rollout in progress: nothing to resume{_ended(rollout)}")
    if (annotations.get(actions.PAUSE) or "").strip() != rollout.revision:
        waits = (
            " (it waits to be promoted: kubectl ferry promote)" if rollout.phase == "Paused" else ""
        )
        raise RefusedError(f"{ref} is not paused by the user: nothing to resume{waits}")
    return Change(
        {actions.PAUSE: None},
        f"resumed {ref} at step {rollout.step}/{rollout.total_steps} ({rollout.step_weight}%): "
        f"{_what(rollout)}",
    )


def _set(
    annotations: Mapping[str, str], key: str, value: str, summary: str, already: str
) -> Change:
    """Set `key` to `value`; nothing to write when it already says so (re-running is safe)."""
    if annotations.get(key) == value:
        return Change({}, already)
    return Change({key: value}, summary)


def _what(rollout: RolloutStatus) -> str:
    return f"revision {rollout.revision}, model {rollout.version}"


def _word(verb: Verb) -> str:
    return "promote" if verb == "promote-full" else verb


def _ended(rollout: RolloutStatus | None) -> str:
    if rollout is None or rollout.phase not in ENDED:
        return ""
    return f" (revision {rollout.revision} was {ENDED[rollout.phase]}: kubectl ferry retry)"
