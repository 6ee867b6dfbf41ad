"""`kubectl ferry`'s pure parts: the annotation each action writes, rollback choices, GitOps
managers, readiness for scripts, and the plain layout of `get`."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from ferry.api.status import ModelDeploymentStatus
from ferry.cli.kubectl import revert, steer
from ferry.cli.kubectl.pods import not_ready_reason, view
from ferry.cli.kubectl.readiness import verdict
from ferry.cli.kubectl.render import plain, rich_screen
from ferry.cli.kubectl.screen import build, history_section
from ferry.cli.kubectl.table import age
from ferry.rollout.actions import ABORT, PAUSE, PROMOTE, RETRY, read_actions

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
T0 = "2026-05-01T11:58:00.000000Z"
SHA1, SHA2 = "1" * 64, "2" * 64


def rollout(**fields: Any) -> dict[str, Any]:
    base = {
        "revision": "canary1", "version": "2.0.0", "uri": "s3://m/2.0.0.mar", "sha256": SHA2,
        "attempt": 1, "phase": "Paused", "step": 1, "totalSteps": 3, "stepWeight": 25,
        "startedAt": T0, "stepStartedAt": T0, "progressAt": T0,
    }  # fmt: skip
    return base | fields


def history(*entries: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {"revision": revision, "version": version, "uri": f"s3://m/{version}.mar",
         "sha256": version[0] * 64, "outcome": outcome, "reason": "why", "at": T0}
        for revision, version, outcome in entries
    ]  # fmt: skip


def status(**fields: Any) -> ModelDeploymentStatus:
    body = {"stableRevision": "stable1", "modelVersion": "1.0.0", "revision": "canary1"}
    return ModelDeploymentStatus.model_validate(body | fields)


# -- which annotation each action writes ------------------------------------------------------


def test_promote_names_the_revision_and_the_current_step() -> None:
    change = steer.plan("promote", "md/x", status(rollout=rollout(step=2, stepWeight=50)), {})
    assert change.annotations == {PROMOTE: "canary1/1/2"}  # revision, attempt, step
    assert change.summary == "promoted md/x past step 2/3 (50%): revision canary1, model 2.0.0"
    assert read_actions(change.annotations, "canary1").promotes(1, 2)  # the operator agrees


def test_promote_full_abort_and_pause_read_back_as_the_operator_reads_them() -> None:
    seen = status(rollout=rollout(attempt=3, phase="Progressing"))
    full = steer.plan("promote-full", "md/x", seen, {}).annotations
    abort = steer.plan("abort", "md/x", seen, {}).annotations
    pause = steer.plan("pause", "md/x", seen, {}).annotations
    assert (full, abort, pause) == ({PROMOTE: "canary1/3/full"}, {ABORT: "canary1/3"},
                                    {PAUSE: "canary1"})  # fmt: skip
    read = read_actions({**full, **abort, **pause}, "canary1")
    assert (read.promotes_full(3), read.abort_attempt, read.paused) == (True, 3, True)


def test_retry_asks_for_the_next_attempt_and_drops_actions_of_the_earlier_one() -> None:
    ended = status(rollout=rollout(phase="Aborted", attempt=1, reason="RolloutAborted"))
    left = {ABORT: "canary1/1", PROMOTE: "canary1/full", "team": "ml"}
    change = steer.plan("retry", "md/x", ended, left)
    assert change.annotations == {RETRY: "canary1/2", ABORT: None, PROMOTE: None}
    assert change.merge_patch() == {"metadata": {"annotations": change.annotations}}
    assert "attempt 2, from step 1 (it was aborted: RolloutAborted)" in change.summary


def test_resume_removes_only_the_users_pause() -> None:
    paused = status(rollout=rollout(phase="Paused"))
    assert steer.plan("resume", "md/x", paused, {PAUSE: "canary1"}).annotations == {PAUSE: None}
    with pytest.raises(steer.RefusedError, match=r"it waits to be promoted: kubectl ferry promote"):
        steer.plan("resume", "md/x", paused, {PAUSE: "an-older-revision"})


def test_repeating_an_action_writes_nothing() -> None:
    seen = status(rollout=rollout())
    assert steer.plan("pause", "md/x", seen, {PAUSE: "canary1"}).empty
    again = steer.plan("promote", "md/x", seen, {PROMOTE: "canary1/1/1"})
    assert again.empty
    assert "already requested" in again.summary


@pytest.mark.parametrize(
    ("verb", "seen", "message"),
    [
        ("promote", status(), "md/x has no rollout in progress: nothing to promote"),
        ("promote-full", status(rollout=rollout(phase="RolledBack")),
         "nothing to promote (revision canary1 was rolled back: kubectl ferry retry)"),
        ("abort", status(rollout=rollout(phase="Aborted")), "nothing to abort"),
        ("pause", status(), "nothing to pause"),
        ("retry", status(rollout=rollout(phase="Progressing")),
         "its rollout is Progressing; retry works only after a rollback or an abort"),
        ("retry", status(revision="newer", rollout=rollout(phase="RolledBack")),
         "the spec now describes revision newer, not the rolled back canary1"),
        ("resume", status(rollout=rollout(phase="Progressing")), "not paused by the user"),
    ],
)  # fmt: skip
def test_nothing_to_act_on_is_refused_with_the_reason(
    verb: steer.Verb, seen: ModelDeploymentStatus, message: str
) -> None:
    with pytest.raises(steer.RefusedError, match=message.replace("(", r"\(").replace(")", r"\)")):
        steer.plan(verb, "md/x", seen, {})


# -- rollback ----------------------------------------------------------------------------------


def declared(version: str) -> dict[str, str]:
    return {"version": version, "uri": f"s3://m/{version}.mar", "sha256": version[0] * 64}


def test_rollback_defaults_to_the_previous_stable() -> None:
    seen = status(
        stableRevision="r3",
        history=history(("r4", "4.0.0", "RolledBack"), ("r3", "3.0.0", "Promoted"),
                        ("r2", "2.0.0", "Promoted"), ("r1", "1.0.0", "Promoted")),
    )  # fmt: skip
    entry = revert.rollback_target(seen, declared("4.0.0"), None)
    assert (entry.revision, entry.version) == ("r2", "2.0.0")
    assert revert.model_patch(entry) == {"spec": {"model": declared("2.0.0")}}


def test_rollback_to_a_version_prefers_its_promoted_entry() -> None:
    seen = status(
        stableRevision="r3",
        history=history(("r2", "2.0.0", "RolledBack"), ("r3", "3.0.0", "Promoted"),
                        ("r2", "2.0.0", "Promoted")),
    )  # fmt: skip
    assert revert.rollback_target(seen, declared("3.0.0"), "2.0.0").outcome == "Promoted"


@pytest.mark.parametrize(
    ("to", "spec_version", "message"),
    [
        ("9.9.9", "2.0.0", r"version 9\.9\.9 is not in status\.history \(has 2\.0\.0 Promoted, "
                           r"1\.0\.0 Promoted\)"),
        ("1.0.0", "1.0.0", r"spec\.model already declares version 1\.0\.0"),
        (None, "2.0.0", r"no previous stable revision"),
    ],
)  # fmt: skip
def test_rollback_refuses_what_history_cannot_give(
    to: str | None, spec_version: str, message: str
) -> None:
    entries = history(("r2", "2.0.0", "Promoted"), ("r1", "1.0.0", "Promoted"))
    seen = status(stableRevision="r2", history=entries if to else entries[:1])
    with pytest.raises(revert.NotInHistoryError, match=message):
        revert.rollback_target(seen, declared(spec_version), to)


def managed(manager: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"manager": manager, "operation": "Apply", "fieldsV1": fields, **extra}


MODEL_FIELDS = {"f:spec": {"f:model": {"f:version": {}, "f:uri": {}}}}


def test_gitops_managers_are_those_owning_spec_model_other_than_people() -> None:
    entries = [
        managed("kubectl-client-side-apply", MODEL_FIELDS, operation="Update"),
        managed("kubectl", MODEL_FIELDS),
        managed("kubectl-ferry", MODEL_FIELDS, operation="Update"),
        managed("ferry", {"f:status": {"f:rollout": {}}}, subresource="status"),
        managed("hpa-controller", {"f:spec": {"f:replicas": {}}}),
        managed("argocd-controller", MODEL_FIELDS),
        managed("kustomize-controller", {"f:spec": {"f:model": {"f:name": {}}}}),
    ]
    assert revert.other_managers(entries) == ["argocd-controller", "kustomize-controller"]
    said = revert.gitops_refusal("md/x", ["argocd-controller", "kustomize-controller"], "1.0.0")
    assert said.startswith(
        "md/x: spec.model is managed by argocd-controller (Argo CD), kustomize-controller (Flux)"
    )
    assert "revert the version in Git instead (back to 1.0.0), or pass --force" in said
    assert revert.other_managers(entries[:5]) == []


# -- status, for scripts -----------------------------------------------------------------------


def md(generation: int = 2, **status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "x", "namespace": "ml", "generation": generation},
        "spec": {"model": {"name": "tiny", **declared("2.0.0")}},
        "status": status_fields,
    }


def ready(state: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": "Ready", "status": state, "reason": reason, "message": message,
            "lastTransitionTime": "2026-05-01T11:58:00Z", "observedGeneration": 2}  # fmt: skip


def test_status_is_ready_only_for_the_current_generation() -> None:
    assert verdict("md/x", md(observedGeneration=2, conditions=[ready("True", "Serving")])).ready
    behind = verdict("md/x", md(observedGeneration=1, conditions=[ready("True", "Serving")]))
    assert not behind.ready
    assert "not observed yet (status describes generation 1, the object is at 2)" in behind.text
    failing = verdict(
        "md/x",
        md(observedGeneration=2, conditions=[ready("False", "ArtifactChecksumMismatch", "bad")]),
    )
    assert (failing.ready, failing.text) == (
        False, "md/x: Ready=False ArtifactChecksumMismatch: bad"
    )  # fmt: skip


# -- pods and the plain layout of `get` --------------------------------------------------------


def pod(name: str, revision: str, ready_: bool = True, **status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-05-01T11:58:00Z",
                     "labels": {"serving.ferry.dev/revision": revision}},
        "spec": {"nodeName": "node-1"},
        "status": {"conditions": [{"type": "Ready", "status": str(ready_)}], **status_fields},
    }  # fmt: skip


def test_a_pod_that_failed_verification_says_so() -> None:
    failed = pod("x-c-1", "canary1", False, initContainerStatuses=[{
        "name": "fetch", "state": {"terminated": {"exitCode": 10, "message": "sha256 differs"}},
    }])  # fmt: skip
    reason = not_ready_reason(view(failed, {}), failed)
    assert reason.startswith("ArtifactChecksumMismatch: fetch failed: sha256 differs;")
    pending = pod("x-c-2", "canary1", False)
    pending["spec"] = {}
    pending["status"]["conditions"] = [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    }]  # fmt: skip
    assert not_ready_reason(view(pending, {}), pending) == (
        "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    )


def analysis_record(**fields: Any) -> dict[str, Any]:
    return {"at": "2026-05-01T11:59:30.000000Z", "step": 1, "verdict": "Passed",
            "message": "passed", **fields}  # fmt: skip


def canary_object() -> dict[str, Any]:
    body = md(
        observedGeneration=2,
        conditions=[ready("True", "Serving", "4/4 replicas answer")],
        replicas=4, readyReplicas=4, stableRevision="stable1", modelVersion="1.0.0",
        revision="canary1", canaryRevision="canary1", canaryVersion="2.0.0", canaryWeight=25,
        rollout=rollout(
            phase="Progressing", message="step 1/3: 25% wanted", failedIntervals=1,
            analysis=[
                analysis_record(requests=143, errorRate=0.21, meanLatencyMs=250.0,
                                verdict="Failed", message="error rate 0.21 over 143 requests"),
                analysis_record(at="2026-05-01T11:59:00.000000Z", requests=120,
                                errorRate=0.0, meanLatencyMs=12.5),
            ],
        ),
        history=history(("stable1", "1.0.0", "Promoted")),
        autoscaling={"desiredReplicas": 4, "metricValue": 1.5, "reason": "within tolerance"},
    )  # fmt: skip
    body["spec"]["rollout"] = {
        "steps": [{"weight": 25, "pause": {}}, {"weight": 50, "pause": {"duration": "30s"}}],
        "analysis": {"intervalSeconds": 30, "minRequests": 50, "maxErrorRate": 0.01,
                     "maxMeanLatencyMs": 200, "failureLimit": 1},
    }  # fmt: skip
    return body


def test_get_prints_a_stable_plain_layout() -> None:
    obj = canary_object()
    pods = [pod("x-stable1-a", "stable1"), pod("x-canary1-a", "canary1", False)]
    events = [
        {"type": "Normal", "reason": "StepReached", "message": "step 1/3",
         "lastTimestamp": "2026-05-01T11:59:00Z", "metadata": {"resourceVersion": "12"}},
        {"type": "Normal", "reason": "RolloutStarted", "message": "rolling  out\n2.0.0",
         "lastTimestamp": "2026-05-01T11:59:00Z", "metadata": {"resourceVersion": "11"}},
        {"type": "Warning", "reason": "AnalysisIntervalFailed", "message": "error rate 0.21",
         "lastTimestamp": "2026-05-01T11:59:30Z", "metadata": {"resourceVersion": "13"}},
    ]  # fmt: skip
    shown = plain(build(obj, ModelDeploymentStatus.model_validate(obj["status"]), pods,
                        events, NOW))  # fmt: skip
    assert shown == EXPECTED_SCREEN


EXPECTED_SCREEN = """\
Name:         x
Namespace:    ml
Model:        tiny  declared 2.0.0, serving 1.0.0
Ready:        True Serving: 4/4 replicas answer
Replicas:     4/4 ready
Rollout:      Progressing at step 1/3 (25% wanted), attempt 1, revision canary1 (model 2.0.0)
Steps:        [25% pause until promoted] -> 50% pause 30s -> 100%
Weight:       25% on the canary
Message:      step 1/3: 25% wanted
Autoscaling:  4 replicas wanted, metric 1.5 per replica: within tolerance

Revisions:
  ROLE    REVISION  VERSION  SHA256        READY  WEIGHT
  stable  stable1   1.0.0    111111111111  1/1    75%
  canary  canary1   2.0.0    222222222222  0/1    25%

Analysis:  (thresholds: error rate <= 0.01, mean latency <= 200ms; at least 50 requests per \
30s interval; 1 failed interval(s) tolerated; 1 failed so far)
  AGE  STEP  REQUESTS  ERROR-RATE      LATENCY           VERDICT  MESSAGE
  30s  1     143       0.2100 (>0.01)  250.0ms (>200ms)  Failed   error rate 0.21 over 143 requests
  60s  1     120       0.0000          12.5ms            Passed   passed

Pods:  (label serving.ferry.dev/model-deployment)
  NAME         ROLE    READY  RESTARTS  AGE   REASON
  x-canary1-a  canary  no     0         2m0s  fetching and verifying the artifact
  x-stable1-a  stable  yes    0         2m0s

Events:
  AGE  TYPE     REASON                  MESSAGE
  60s  Normal   RolloutStarted          rolling out 2.0.0
  60s  Normal   StepReached             step 1/3
  30s  Warning  AnalysisIntervalFailed  error rate 0.21
"""


def test_history_lists_newest_first() -> None:
    seen = status(history=history(("canary1", "2.0.0", "RolledBack"),
                                  ("stable1", "1.0.0", "Promoted")))  # fmt: skip
    section = history_section(seen, NOW)
    assert [row[:4] for row in section.rows] == [
        ("canary1", "2.0.0", "222222222222", "RolledBack"),
        ("stable1 (stable)", "1.0.0", "111111111111", "Promoted"),
    ]
    assert section.rows[0][5] == "2m0s ago"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5s"), (119, "119s"), (192, "3m12s"), (1500, "25m"), (4 * 3600 + 300, "4h5m"),
     (20 * 3600, "20h"), (5 * 86400, "5d")],
)  # fmt: skip
def test_ages_read_like_kubectl(seconds: int, shown: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_a_terminal_gets_the_same_figures_as_tables() -> None:
    obj = canary_object()
    screen = build(obj, ModelDeploymentStatus.model_validate(obj["status"]), [], [], NOW)
    console = Console(record=True, width=140, force_terminal=True, color_system="truecolor")
    console.print(rich_screen(screen, footer="watching ml/x"))
    text = console.export_text(clear=False)
    for figure in ("canary1", "222222222222", "0.2100 (>0.01)", "250.0ms (>200ms)", "no pods"):
        assert figure in text
    assert "\x1b[" in console.export_text(styles=True)  # coloured verdicts
