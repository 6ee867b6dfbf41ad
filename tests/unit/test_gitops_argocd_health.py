"""The Argo CD health check (charts/ferry/argocd-health.lua) over hand-made statuses, run
under Argo CD's conventions (tests/gitops.py), and the docs' argocd-cm snippet carrying it."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from tests.gitops import ARGOCD_HEALTH_LUA, Health, argocd_health

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operator.md"
ARGOCD_KEY = "resource.customizations.health.serving.ferry.dev_ModelDeployment"


def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message or reason}


def md(generation: int = 3, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "serving.ferry.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "resnet", "namespace": "ml", "generation": generation},
        "spec": {"replicas": 2},
    }
    if status:
        body["status"] = status
    return body


def written(*conditions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An object whose status describes its generation."""
    return md(observedGeneration=3, conditions=list(conditions), **fields)


SERVING = cond("Ready", "True", "Serving", "2/2 replicas answer for model resnet50")
NOTHING_WRONG = cond("Stalled", "False", "Healthy")
HEALTHY = cond("Degraded", "False", "Healthy")


def test_no_status_yet_is_progressing() -> None:
    expected = Health("Progressing", "Waiting for the Ferry operator to report status")
    assert argocd_health(md()) == expected
    assert argocd_health(md(conditions=[])) == expected  # status without observedGeneration


def test_status_behind_the_generation_is_progressing_whatever_it_says() -> None:
    obj = md(
        generation=4,
        observedGeneration=3,
        conditions=[SERVING, cond("Reconciling", "False", "RolloutComplete"), NOTHING_WRONG],
    )
    assert argocd_health(obj) == Health(
        "Progressing",
        "Waiting for the Ferry operator to observe generation 4 (status describes generation 3)",
    )


def test_a_stalled_status_behind_the_generation_is_progressing_not_degraded() -> None:
    # The user just fixed the spec: the old failure no longer describes it.
    obj = md(
        generation=4,
        observedGeneration=3,
        conditions=[cond("Stalled", "True", "RolledBack"), SERVING],
    )
    assert argocd_health(obj).status == "Progressing"


def test_ready_with_nothing_under_way_is_healthy_with_ready_message() -> None:
    obj = written(SERVING, cond("Reconciling", "False", "RolloutComplete"), NOTHING_WRONG)
    assert argocd_health(obj) == Health("Healthy", "2/2 replicas answer for model resnet50")


def test_ready_without_any_kstatus_condition_is_healthy() -> None:
    assert argocd_health(written(SERVING)).status == "Healthy"


def test_a_rollout_under_way_is_progressing_even_while_ready() -> None:
    rolling = cond("Reconciling", "True", "RollingOut", "step 1/3: 25% wanted")
    obj = written(SERVING, rolling, NOTHING_WRONG, rollout={"phase": "Progressing"})
    assert argocd_health(obj) == Health("Progressing", "RollingOut: step 1/3: 25% wanted")


def test_a_scale_under_way_is_progressing() -> None:
    scaling = cond("Reconciling", "True", "Scaling", "revision abc: 2/4 replicas ready")
    assert argocd_health(written(SERVING, scaling)) == Health(
        "Progressing", "Scaling: revision abc: 2/4 replicas ready"
    )


def test_a_rollout_paused_for_promotion_is_suspended() -> None:
    paused = cond("Reconciling", "True", "RolloutPaused", "step 1/2: 50% wanted; paused")
    obj = written(SERVING, paused, NOTHING_WRONG, rollout={"phase": "Paused"})
    assert argocd_health(obj) == Health("Suspended", "RolloutPaused: step 1/2: 50% wanted; paused")


@pytest.mark.parametrize(
    "reason", ["RolledBack", "RolloutAborted", "ProgressDeadlineExceeded", "InvalidSpec"]
)
def test_stalled_is_degraded_with_its_reason_and_message(reason: str) -> None:
    stalled = cond("Stalled", "True", reason, "revision abc (model 2.0.0) was rolled back")
    obj = written(SERVING, cond("Reconciling", "False", reason), stalled, HEALTHY)
    assert argocd_health(obj) == Health(
        "Degraded", f"{reason}: revision abc (model 2.0.0) was rolled back"
    )


def test_not_ready_for_a_failure_is_degraded_even_while_under_way() -> None:
    # A first revision blocked by a lack of GPUs: kstatus waits (it may still resolve),
    # Argo CD shows the failure.
    not_ready = cond("Ready", "False", "InsufficientGPU", "0/1 replicas answer: needs 1 GPU")
    obj = written(
        not_ready,
        cond("Degraded", "True", "InsufficientGPU"),
        cond("Reconciling", "True", "RollingOut"),
        NOTHING_WRONG,
    )
    assert argocd_health(obj) == Health(
        "Degraded", "InsufficientGPU: 0/1 replicas answer: needs 1 GPU"
    )


def test_a_canary_failing_before_its_rollback_leaves_a_serving_model_progressing() -> None:
    # Degraded is about what serves; a canary's trouble shows as the rollout's message.
    rolling = cond("Reconciling", "True", "RollingOut", "step 1/2; waiting: CrashLoop")
    assert argocd_health(written(SERVING, HEALTHY, rolling)).status == "Progressing"


def test_a_loading_first_revision_is_progressing() -> None:
    loading = cond("Ready", "False", "ReplicasNotReady", "0/2 replicas answer; loading")
    rolling = cond("Reconciling", "True", "RollingOut", "revision abc: 0/2 replicas ready")
    assert argocd_health(written(loading, HEALTHY, rolling)) == Health(
        "Progressing", "RollingOut: revision abc: 0/2 replicas ready"
    )


def test_scaled_to_zero_is_suspended() -> None:
    zero = cond("Ready", "True", "ScaledToZero", "no replicas wanted: nothing serves")
    obj = written(zero, HEALTHY, cond("Reconciling", "False", "RolloutComplete"))
    assert argocd_health(obj) == Health(
        "Suspended", "ScaledToZero: no replicas wanted: nothing serves"
    )


def test_not_ready_with_nothing_under_way_and_no_failure_is_progressing() -> None:
    not_ready = cond("Ready", "False", "ReplicasNotReady", "1/4 replicas answer")
    obj = written(not_ready, HEALTHY, cond("Reconciling", "False", "RolloutComplete"))
    assert argocd_health(obj) == Health("Progressing", "ReplicasNotReady: 1/4 replicas answer")


def test_conditions_without_ready_are_progressing() -> None:
    assert argocd_health(written(HEALTHY)) == Health(
        "Progressing", "Waiting for the Ferry operator to report the Ready condition"
    )


def test_scripts_see_only_the_libraries_argo_cd_opens() -> None:
    # As strict as Argo CD: a check using string or math (or string methods) fails here too.
    with pytest.raises(LuaError, match="'string'"):
        argocd_health(md(), script='return {status = string.lower("Healthy")}')
    with pytest.raises(LuaError, match="'math'"):
        argocd_health(md(), script="return {status = math.floor(1)}")
    with pytest.raises(LuaError, match="attempt to index"):
        argocd_health(md(), script='return {status = ("Healthy"):lower()}')


def test_docs_carry_the_check_verbatim_under_argo_cds_key() -> None:
    text = DOCS.read_text()
    snippets = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    config_maps = [yaml.safe_load(s) for s in snippets if "name: argocd-cm" in s]
    assert len(config_maps) == 1, "docs/operator.md needs exactly one argocd-cm snippet"
    (config_map,) = config_maps
    assert config_map["kind"] == "ConfigMap"
    assert config_map["data"][ARGOCD_KEY] == ARGOCD_HEALTH_LUA.read_text()
