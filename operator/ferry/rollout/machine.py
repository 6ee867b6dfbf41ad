"""The rollout state machine. Pure: (spec, previous status, observed revisions, user
actions, metric readings, GPU room, clock) -> replicas per revision, rollout status,
history and events. docs/operator.md walks through the sequence.

Everything it needs to resume lives in status (`status.rollout`, `status.history`): an
operator restarted mid-step resumes at that step. The only thing kept in memory is the
counter snapshot an analysis interval started from; without it the interval restarts.
"""

from datetime import datetime, timedelta

from ferry.api.status import HistoryEntry, RolloutStatus
from ferry.reconcile.conditions import EventSpec
from ferry.reconcile.failure import Failure
from ferry.rollout import history as h
from ferry.rollout import replicas as rp
from ferry.rollout.facts import RevisionFacts, RolloutDecision, RolloutInput, Target
from ferry.rollout.interval import IntervalOutcome, advance_interval
from ferry.rollout.steps import FULL, effective_steps, is_implicit_final

ACTIVE = ("Progressing", "Paused")


def decide_rollout(inp: RolloutInput) -> RolloutDecision:
    now = inp.now
    stable = inp.previous.stable_revision
    if stable not in inp.revisions:
        return _first_revision(inp, now)
    if inp.target.revision == stable:
        return _back_to_stable(inp, stable, now)
    return _Trial(inp, stable, now).decide()


def is_fast(inp: RolloutInput) -> bool:
    """A revision that served as stable before rolls out without steps or analysis."""
    return h.known_good(inp.previous.history, inp.target.revision)


def _entry(target: Target, outcome: str, reason: str, at: datetime) -> HistoryEntry:
    return HistoryEntry.model_validate(
        {"revision": target.revision, "version": target.version, "uri": target.uri,
         "sha256": target.sha256, "outcome": outcome, "reason": reason, "at": at}
    )  # fmt: skip


def _of(rollout: RolloutStatus) -> Target:
    return Target(rollout.revision, rollout.version, rollout.uri, rollout.sha256)


def _first_revision(inp: RolloutInput, now: datetime) -> RolloutDecision:
    """Nothing serves yet: the whole revision at once; stable once every replica answers."""
    target, total = inp.target, inp.total
    facts = inp.revisions.get(target.revision, RevisionFacts())
    replicas = {target.revision: total}
    if facts.ready >= total:  # at zero replicas there is nothing to wait for
        why = "every replica answers" if total else "no replicas wanted"
        history = h.record(
            inp.previous.history,
            _entry(target, "Promoted", f"first revision: {why}", now),
            inp.history_limit,
        )
        return RolloutDecision(target.revision, target.version, replicas, history)
    return RolloutDecision("", "", replicas, list(inp.previous.history))


def _back_to_stable(inp: RolloutInput, stable: str, now: datetime) -> RolloutDecision:
    """The spec names the stable revision (again): any canary goes at once, no analysis."""
    history, events = list(inp.previous.history), []
    old = inp.previous.rollout
    if old is not None and old.phase in ACTIVE:
        reason = (
            f"spec set back to the stable revision {stable} at step {old.step}/{old.total_steps}"
        )
        history = h.record(history, _entry(_of(old), "Superseded", reason, now), inp.history_limit)
        events.append(
            EventSpec("Normal", "RolloutReverted", f"{reason}: canary {old.revision} "
                      f"(model {old.version}) removed; {stable} serves everything")
        )  # fmt: skip
    return RolloutDecision(
        stable, inp.previous.model_version, {stable: inp.total}, history, events=tuple(events)
    )


class _Trial:
    """One reconcile of the rollout of `inp.target` beside `stable`."""

    def __init__(self, inp: RolloutInput, stable: str, now: datetime) -> None:
        self.inp, self.stable, self.now = inp, stable, now
        self.target = inp.target
        self.analysis = None if is_fast(inp) else inp.spec.analysis
        self.steps = (FULL,) if is_fast(inp) else effective_steps(inp.spec)
        self.canary_facts = inp.revisions.get(self.target.revision, RevisionFacts())
        self.stable_facts = inp.revisions[stable]
        self.history = list(inp.previous.history)
        self.events: list[EventSpec] = []
        self.baseline_at: datetime | None = None
        self.requeue: list[float] = []

    # -- the sequence ----------------------------------------------------------------------

    def decide(self) -> RolloutDecision:
        r = self._current()
        if r.phase not in ACTIVE:
            return self._held(r)
        if self.inp.total == 0:  # nothing to try it on, as a Deployment at zero rolls at once
            return self._promote("no replicas to try it on (0 wanted)")
        ending = self._stopped(r)
        if ending is not None:
            return self._end(r, *ending)
        r, failure = self._analyse(r)
        if failure is not None:
            return self._end(r, "RolledBack", failure)
        stepped = self._step(r)
        if stepped is None:
            return self._promote(self._why_promoted(r))
        return self._progress(stepped)

    def _why_promoted(self, r: RolloutStatus) -> str:
        if is_fast(self.inp):
            return "rolled back to a known-good revision"
        actions = self.inp.actions
        if actions.promotes_full(r.attempt) or actions.promotes(r.attempt, r.step):
            return f"promoted by the user at step {r.step}/{r.total_steps}"
        return f"every step passed ({len(self.steps)})"

    def _stopped(self, r: RolloutStatus) -> tuple[str, Failure] | None:
        """Aborted by the user, or a canary that cannot serve: roll back at once."""
        if self.inp.actions.abort_attempt == r.attempt:
            return "Aborted", Failure("RolloutAborted", "aborted by the user")
        if self.canary_facts.failure is not None:
            return "RolledBack", self.canary_facts.failure
        return None

    def _current(self) -> RolloutStatus:
        """The rollout of the target: recorded, retried, or new."""
        previous = self.inp.previous.rollout
        if previous is not None and previous.revision == self.target.revision:
            retry = self.inp.actions.retry_attempt
            if previous.phase in ACTIVE or retry is None or retry <= previous.attempt:
                return previous
            self.events.append(
                EventSpec("Normal", "RolloutRetried", f"retrying revision {self.target.revision} "
                          f"(model {self.target.version}), attempt {retry}, from step 1")
            )  # fmt: skip
            return self._new(retry)
        if previous is not None and previous.phase in ACTIVE:
            reason = f"spec changed to revision {self.target.revision} at step {previous.step}"
            self.history = h.record(
                self.history, _entry(_of(previous), "Superseded", reason, self.now),
                self.inp.history_limit,
            )  # fmt: skip
        how = (
            "straight to 100 %: it served as stable before"
            if is_fast(self.inp)
            else f"in {len(self.steps)} step(s): {', '.join(f'{s.weight}%' for s in self.steps)}"
        )
        self.events.append(
            EventSpec("Normal", "RolloutStarted", f"rolling out revision {self.target.revision} "
                      f"(model {self.target.version}) beside {self.stable} {how}")
        )  # fmt: skip
        # Unique among this revision's rollouts, so an action naming an earlier one is stale.
        earlier = sum(e.revision == self.target.revision for e in self.history)
        return self._new(earlier + 1)

    def _new(self, attempt: int) -> RolloutStatus:
        return RolloutStatus(
            revision=self.target.revision,
            version=self.target.version,
            uri=self.target.uri,
            sha256=self.target.sha256,
            attempt=attempt,
            total_steps=len(self.steps),
            step_weight=self.steps[0].weight,
            started_at=self.now,
            step_started_at=self.now,
            progress_at=self.now,
        )

    def _analyse(self, r: RolloutStatus) -> tuple[RolloutStatus, Failure | None]:
        if self.analysis is None or self.canary_facts.ready == 0:
            return r, None
        outcome: IntervalOutcome = advance_interval(r, self.analysis, self.inp.readings, self.now)
        self.baseline_at = outcome.baseline_at
        self.events.extend(outcome.events)
        if outcome.next_due is not None:
            self.requeue.append(outcome.next_due)
        if outcome.rollout.failed_intervals > self.analysis.failure_limit:
            record = outcome.rollout.analysis[0]
            return outcome.rollout, Failure("AnalysisFailed", record.message)
        return outcome.rollout, None

    def _step(self, r: RolloutStatus) -> RolloutStatus | None:
        """Reach the step's weight, wait its pause and analysis, go on. None: promote."""
        actions = self.inp.actions
        if actions.promotes_full(r.attempt) and r.step < len(self.steps):
            self.events.append(EventSpec("Normal", "RolloutPromotedFull", "promoted by the user: "
                               f"skipping to {self.target.revision} at 100 %"))  # fmt: skip
            r = self._enter(r, len(self.steps))
        promoted = actions.promotes_full(r.attempt) or actions.promotes(r.attempt, r.step)
        step = self.steps[r.step - 1]
        _, canary_target = rp.split(self.inp.total, step.weight)
        if canary_target > 0 and self.canary_facts.ready >= canary_target:
            if r.weight_reached_at is None:
                r = r.model_copy(update={
                    "weight_reached_at": self.now, "progress_at": self.now,
                    "interval_started_at": None, "passed_intervals": 0,
                })  # fmt: skip
                if self.analysis is not None:
                    self.requeue.append(0)  # take the new interval's first snapshot now
                if not is_implicit_final(self.inp.spec, r.step) or is_fast(self.inp):
                    self._event_step_reached(r, canary_target)
        elif not promoted or r.step == len(self.steps):
            return r  # the last step promotes only once every canary replica answers
        if not (promoted or self._may_leave(r)):
            return r
        if r.step == len(self.steps):
            return None
        return self._enter(r, r.step + 1)

    def _may_leave(self, r: RolloutStatus) -> bool:
        step = self.steps[r.step - 1]
        if self.inp.actions.paused or r.weight_reached_at is None:
            return False
        if step.pause is not None:
            seconds = step.pause.seconds
            if seconds is None:
                return False  # waits for `promote`
            left = (r.weight_reached_at + timedelta(seconds=seconds) - self.now).total_seconds()
            if left > 0:
                self.requeue.append(left)
                return False
        gated = self.analysis is not None and not is_implicit_final(self.inp.spec, r.step)
        return not gated or r.passed_intervals > 0

    def _enter(self, r: RolloutStatus, step: int) -> RolloutStatus:
        return r.model_copy(update={
            "step": step, "step_weight": self.steps[step - 1].weight, "step_started_at": self.now,
            "progress_at": self.now, "weight_reached_at": None, "interval_started_at": None,
            "passed_intervals": 0,
        })  # fmt: skip

    # -- endings and the steady progress -------------------------------------------------------

    def _promote(self, reason: str) -> RolloutDecision:
        self.history = h.record(
            self.history, _entry(self.target, "Promoted", reason, self.now), self.inp.history_limit
        )
        self.events.append(
            EventSpec("Normal", "Promoted", f"revision {self.target.revision} (model "
                      f"{self.target.version}) promoted: {reason}; it serves all traffic")
        )  # fmt: skip
        return RolloutDecision(
            self.target.revision,
            self.target.version,
            {self.target.revision: self.inp.total},
            self.history,
            events=tuple(self.events),
        )

    def _end(self, r: RolloutStatus, phase: str, failure: Failure) -> RolloutDecision:
        """Roll back (or abort): the canary goes to zero at once, the stable to full size."""
        r = r.model_copy(update={
            "phase": phase, "reason": failure.reason, "message": failure.message,
            "progress_at": self.now, "interval_started_at": None,
        })  # fmt: skip
        outcome = "Aborted" if phase == "Aborted" else "RolledBack"
        self.history = h.record(
            self.history,
            _entry(self.target, outcome, f"{failure.reason}: {failure.message}", self.now),
            self.inp.history_limit,
        )
        self.events.append(
            EventSpec("Warning", outcome, f"{failure.reason}: {failure.message}; revision "
                      f"{self.target.revision} scaled to zero, {self.stable} serves everything")
        )  # fmt: skip
        return self._held(r)

    def _held(self, r: RolloutStatus) -> RolloutDecision:
        """A rolled back or aborted revision stays at zero until the spec changes or a retry."""
        return RolloutDecision(
            self.stable,
            self.inp.previous.model_version,
            {self.stable: self.inp.total, self.target.revision: 0},
            self.history,
            rollout=r,
            events=tuple(self.events),
        )

    def _progress(self, r: RolloutStatus) -> RolloutDecision:
        step = self.steps[r.step - 1]
        seen = self.stable_facts, self.canary_facts
        plan = rp.plan(
            self.inp.total,
            step.weight,
            rp.Observed(
                stable_desired=seen[0].desired, stable_live=seen[0].live,
                canary_ready=seen[1].ready, canary_placed=seen[1].placed,
                stable_gpus=seen[0].gpus_per_pod, canary_gpus=seen[1].gpus_per_pod,
            ),
            self.inp.room,
        )  # fmt: skip
        r = self._phase(r)
        hold = self.canary_facts.blocked or self.canary_facts.unready
        deadline = self._deadline(r)
        if deadline is not None:
            return self._end(r, "RolledBack", deadline)
        r = r.model_copy(update={"message": self._message(r, plan, hold)})
        requeue = [s for s in self.requeue if s >= 0]
        return RolloutDecision(
            self.stable,
            self.inp.previous.model_version,
            {self.stable: plan.stable, self.target.revision: plan.canary},
            self.history,
            canary=self.target.revision,
            canary_version=self.target.version,
            rollout=r,
            events=tuple(self.events),
            hold=hold,
            route_weight=step.weight if self.canary_facts.ready > 0 else 0,
            baseline_at=self.baseline_at,
            requeue_after=min(requeue) if requeue else None,
        )

    def _phase(self, r: RolloutStatus) -> RolloutStatus:
        waiting = r.weight_reached_at is not None and self._waits_for_promotion(r)
        phase = "Paused" if self.inp.actions.paused or waiting else "Progressing"
        if phase == r.phase:
            return r
        if phase == "Paused":
            why = "paused by the user" if self.inp.actions.paused else "waiting to be promoted"
            self.events.append(EventSpec("Normal", "RolloutPaused", f"step {r.step}/"
                               f"{r.total_steps} ({r.step_weight}%): {why}"))  # fmt: skip
            return r.model_copy(update={"phase": phase})
        # Resumed: the progress deadline counts afresh.
        return r.model_copy(update={"phase": phase, "progress_at": self.now})

    def _waits_for_promotion(self, r: RolloutStatus) -> bool:
        pause = self.steps[r.step - 1].pause
        return pause is not None and pause.seconds is None

    def _deadline(self, r: RolloutStatus) -> Failure | None:
        """Past the deadline without progress (pauses do not count)."""
        if r.phase == "Paused":
            return None
        since = r.progress_at
        pause = self.steps[r.step - 1].pause
        if r.weight_reached_at is not None and pause is not None and pause.seconds is not None:
            since = max(since, r.weight_reached_at + timedelta(seconds=pause.seconds))
        limit = self.inp.spec.progress_deadline_seconds
        left = (since + timedelta(seconds=limit) - self.now).total_seconds()
        if left > 0:
            self.requeue.append(left)
            return None
        waiting = r.message or f"step {r.step}/{r.total_steps} made no progress"
        return Failure(
            "ProgressDeadlineExceeded",
            f"no progress within spec.rollout.progressDeadlineSeconds ({limit}s): {waiting}",
        )

    def _message(self, r: RolloutStatus, plan: rp.ReplicaPlan, hold: Failure | None) -> str:
        ready = self.canary_facts.ready
        text = (
            f"step {r.step}/{r.total_steps}: {r.step_weight}% wanted, canary "
            f"{self.target.revision} has {ready}/{plan.canary} ready, stable {self.stable} "
            f"{plan.stable}"
        )
        if hold is not None:
            return f"{text}; waiting: {hold.message}"
        if plan.stepping_down:
            text += " (stepping the stable revision down first: no room for the canary)"
        if r.phase == "Paused":
            return f"{text}; paused"
        if r.analysis and r.analysis[0].verdict == "Inconclusive" and r.weight_reached_at:
            return f"{text}; holding: {r.analysis[0].message}"
        return text

    def _event_step_reached(self, r: RolloutStatus, canary: int) -> None:
        self.events.append(
            EventSpec("Normal", "StepReached", f"step {r.step}/{r.total_steps}: canary "
                      f"{self.target.revision} at {r.step_weight}% ({canary} of "
                      f"{self.inp.total} replicas ready)")
        )  # fmt: skip
