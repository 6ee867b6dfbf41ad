"""The effective steps of a rollout: the spec's steps, then the whole new revision."""

from ferry.api.rollout import Rollout, Step

FULL = Step(weight=100)


def effective_steps(rollout: Rollout) -> tuple[Step, ...]:
    """`spec.rollout.steps` ending at 100 %: an implicit last step is added when needed.

    No steps means one step of 100 %: the whole new revision at once, gated on readiness.
    """
    steps = tuple(rollout.steps)
    if not steps or steps[-1].weight < 100:
        steps += (FULL,)
    return steps


def is_implicit_final(rollout: Rollout, step: int) -> bool:
    """The step Ferry added (1-based): it promotes on readiness, without waiting on analysis
    (at 100 % the stable revision has no traffic left to compare with)."""
    return step > len(rollout.steps)
