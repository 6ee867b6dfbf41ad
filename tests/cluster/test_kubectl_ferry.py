"""`kubectl ferry`, run as a kubectl plugin, steering real rollouts.

World: the local control plane with kwok pods (ready at once; `sim.ferry.dev/*` annotations
inject failures), the operator running with the chart's RBAC, the kubectl built here finding
`kubectl-ferry` on PATH (the venv's bin), and the chart's rollout-actions role and admission
policy for a user who may steer rollouts but not change specs.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.localcluster import ClusterAccess
from tests.cluster import operator_harness as harness
from tests.cluster.helpers import eventually, stays
from tests.cluster.operator_harness import ModelDeployments, RunningOperator

pytestmark = pytest.mark.cluster
ferry_operator = harness.ferry_operator
models = harness.models

SHAS = {"1.0.0": "a" * 64, "2.0.0": "b" * 64, "3.0.0": "c" * 64}
WAIT_FOR_PROMOTION = [{"weight": 25, "pause": {}}, {"weight": 50, "pause": {}}]


def manifest(
    name: str,
    version: str,
    steps: list[dict[str, Any]] | None = None,
    replicas: int = 4,
    pod_annotations: dict[str, str] | None = None,
    analysis: dict[str, Any] | None = None,
) -> str:
    rollout: dict[str, Any] = {"steps": steps or []}
    if analysis:
        rollout["analysis"] = analysis
    body = {
        "apiVersion": "serving.ferry.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {
                "name": "tiny",
                "version": version,
                "uri": f"https://models.example.com/tiny/{version}/tiny.mar",
                "sha256": SHAS[version],
            },
            "runtime": {"image": "ghcr.io/ferry/torchserve:0.12.0-cpu"},
            "resources": {"cpu": "100m", "memory": "256Mi"},
            "replicas": replicas,
            "podMetadata": {"annotations": pod_annotations or {}},
            "rollout": rollout,
        },
    }
    return yaml.safe_dump(body)


class Plugin:
    """`kubectl ferry ...` through kubectl's plugin discovery, as a given user."""

    def __init__(self, cluster: ClusterAccess, namespace: str, kubeconfig: Path) -> None:
        venv_bin = str(Path(sys.executable).parent)
        self.path = os.pathsep.join([venv_bin, str(cluster.bin_dir), os.environ.get("PATH", "")])
        found = shutil.which("kubectl-ferry", path=self.path)
        assert found, f"kubectl-ferry is not on PATH ({self.path}): pip install -e '.[kubectl]'"
        self.kubectl = str(cluster.bin_dir / "kubectl")
        self.namespace, self.kubeconfig = namespace, kubeconfig

    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": self.path, "KUBECONFIG": str(self.kubeconfig)}

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        # kubectl refuses flags before a plugin's name: they go after it.
        argv = [self.kubectl, "ferry", *args, "-n", self.namespace]
        ran = subprocess.run(
            argv, capture_output=True, text=True, env=self.env(), timeout=120, check=False
        )
        assert "Traceback" not in ran.stderr, ran.stderr
        if ok:
            assert ran.returncode == 0, f"kubectl ferry {' '.join(args)}: {ran.stderr}"
        return ran

    def refused(self, *args: str) -> str:
        ran = self(*args, ok=False)
        assert ran.returncode != 0, f"kubectl ferry {' '.join(args)} was not refused: {ran.stdout}"
        assert ran.stderr.startswith("error: "), ran.stderr
        return ran.stderr

    def kubectl_as(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.kubectl, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def ferry(
    cluster: ClusterAccess, models: ModelDeployments, ferry_operator: RunningOperator
) -> Plugin:
    return Plugin(cluster, models.namespace, cluster.kubeconfig)


def rollout(models: ModelDeployments, name: str) -> dict[str, Any]:
    return (models.get(name).get("status") or {}).get("rollout") or {}


def wait_rollout(
    models: ModelDeployments, name: str, accept: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    return eventually(lambda: rollout(models, name), accept, 60, f"{name}: {what}")


def wait_serving(models: ModelDeployments, name: str, version: str) -> dict[str, Any]:
    def status() -> dict[str, Any]:
        return models.get(name).get("status") or {}

    return eventually(
        status,
        lambda s: s.get("modelVersion") == version and not s.get("canaryRevision")
        and s.get("readyReplicas") == s.get("replicas") and s.get("replicas", 0) > 0,
        90,
        f"{name} serving {version} alone",
    )  # fmt: skip


def start_canary(
    models: ModelDeployments, name: str, steps: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    """v1 serving, then v2 rolling out and waiting at step 1 for promotion."""
    models.apply(manifest(name, "1.0.0", steps, **spec))
    wait_serving(models, name, "1.0.0")
    models.apply(manifest(name, "2.0.0", steps, **spec))
    return wait_rollout(
        models, name, lambda r: r.get("phase") == "Paused" and r.get("step") == 1, "at step 1"
    )


def pods_of(models: ModelDeployments, name: str, revision: str) -> int:
    selector = f"serving.ferry.dev/model-deployment={name},serving.ferry.dev/revision={revision}"
    pods = models.core.list_namespaced_pod(models.namespace, label_selector=selector).items
    return len([p for p in pods if not p.metadata.deletion_timestamp])


def test_promote_step_by_step_until_promoted(ferry: Plugin, models: ModelDeployments) -> None:
    canary = start_canary(models, "steps", WAIT_FOR_PROMOTION)["revision"]
    assert ferry("promote", "steps").stdout.strip() == (
        f"promoted md/steps past step 1/3 (25%): revision {canary}, model 2.0.0"
    )
    wait_rollout(models, "steps", lambda r: r.get("step") == 2 and r["phase"] == "Paused", "step 2")
    assert pods_of(models, "steps", canary) == 2  # 50% of 4
    second = ferry("promote", "steps").stdout
    assert f"promoted md/steps past step 2/3 (50%): revision {canary}, model 2.0.0" in second
    status = wait_serving(models, "steps", "2.0.0")
    assert status["stableRevision"] == canary

    refused = ferry.refused("promote", "steps")
    assert "md/steps has no rollout in progress: nothing to promote" in refused
    table = ferry("history", "steps").stdout
    assert "every step passed (3)" in table
    assert table.index("2.0.0") < table.index("1.0.0"), "newest first"


def test_promote_full_pause_and_resume(ferry: Plugin, models: ModelDeployments) -> None:
    steps = [{"weight": 25, "pause": {"duration": "10s"}}, {"weight": 50, "pause": {}}]
    models.apply(manifest("hold", "1.0.0", steps))
    wait_serving(models, "hold", "1.0.0")
    models.apply(manifest("hold", "2.0.0", steps))
    canary = wait_rollout(models, "hold", lambda r: r.get("step") == 1, "step 1")["revision"]
    paused = ferry("pause", "hold").stdout
    assert f"paused md/hold at step 1/3 (25%): revision {canary}, model 2.0.0" in paused
    assert "already paused" in ferry("pause", "hold").stdout  # safe to repeat, writes nothing
    # The 10 s pause would have ended: the user's pause holds the step.
    stays(lambda: rollout(models, "hold").get("step"), lambda step: step == 1, 15, "held")
    assert rollout(models, "hold")["phase"] == "Paused"

    assert f"resumed md/hold at step 1/3 (25%): revision {canary}" in ferry("resume", "hold").stdout
    wait_rollout(models, "hold", lambda r: r.get("step") == 2 and r["phase"] == "Paused", "step 2")
    waits = ferry.refused("resume", "hold")
    assert "not paused by the user: nothing to resume (it waits to be promoted" in waits

    full = ferry("promote", "hold", "--full").stdout
    assert f"promoted md/hold to 100% at once (from step 2/3): revision {canary}" in full
    assert wait_serving(models, "hold", "2.0.0")["stableRevision"] == canary


def test_abort_then_retry(ferry: Plugin, models: ModelDeployments) -> None:
    started = start_canary(models, "oops", WAIT_FOR_PROMOTION)
    canary = started["revision"]
    assert "retry works only after a rollback or an abort" in ferry.refused("retry", "oops")

    aborted = ferry("abort", "oops").stdout
    assert f"aborted the rollout of md/oops at step 1/3: revision {canary}, model 2.0.0" in aborted
    wait_rollout(models, "oops", lambda r: r.get("phase") == "Aborted", "aborted")
    eventually(lambda: pods_of(models, "oops", canary), lambda n: n == 0, 60, "canary gone")
    again = ferry.refused("abort", "oops")
    assert f"nothing to abort (revision {canary} was aborted: kubectl ferry retry)" in again

    retried = ferry("retry", "oops").stdout
    assert f"retrying md/oops: revision {canary}, model 2.0.0, attempt 2, from step 1" in retried
    annotations = models.get("oops")["metadata"]["annotations"]
    assert annotations["serving.ferry.dev/retry"] == f"{canary}/2"
    assert "serving.ferry.dev/abort" not in annotations
    wait_rollout(
        models, "oops", lambda r: r.get("attempt") == 2 and r["phase"] == "Paused", "attempt 2"
    )
    ferry("promote", "oops", "--full")
    wait_serving(models, "oops", "2.0.0")


def test_bad_canary_is_rolled_back_and_shown(ferry: Plugin, models: ModelDeployments) -> None:
    models.apply(manifest("bad", "1.0.0", WAIT_FOR_PROMOTION))
    wait_serving(models, "bad", "1.0.0")
    bad = {"sim.ferry.dev/init-exit-code": "10"}  # ferry-fetch: checksum mismatch
    models.apply(manifest("bad", "2.0.0", WAIT_FOR_PROMOTION, pod_annotations=bad))
    wait_rollout(models, "bad", lambda r: r.get("phase") == "RolledBack", "rolled back")

    shown = ferry("get", "bad").stdout
    assert "RolledBack at step 1/3" in shown
    assert "ArtifactChecksumMismatch" in shown
    table = ferry("history", "bad").stdout
    rolled_back = next(line for line in table.splitlines() if "RolledBack" in line)
    assert rolled_back.split()[1:3] == ["2.0.0", "b" * 12]
    assert "ArtifactChecksumMismatch" in rolled_back
    assert "nothing to promote (revision" in ferry.refused("promote", "bad")


def test_rollback_to_a_previous_version(ferry: Plugin, models: ModelDeployments) -> None:
    models.apply(manifest("back", "1.0.0", replicas=2))
    first = wait_serving(models, "back", "1.0.0")["stableRevision"]
    models.apply(manifest("back", "2.0.0", replicas=2))
    wait_serving(models, "back", "2.0.0")

    said = ferry("rollback", "back").stdout
    assert f"rolled back md/back to model 1.0.0: revision {first}" in said
    assert "straight to 100% without steps or analysis" in said
    assert models.get("back")["spec"]["model"]["sha256"] == SHAS["1.0.0"]
    assert wait_serving(models, "back", "1.0.0")["stableRevision"] == first  # same revision
    ferry("rollback", "back", "--to", "2.0.0")
    wait_serving(models, "back", "2.0.0")
    missing = ferry.refused("rollback", "back", "--to", "9.9.9")
    assert "version 9.9.9 is not in status.history" in missing


def test_rollback_defers_to_the_gitops_tool(
    ferry: Plugin, models: ModelDeployments, cluster: ClusterAccess
) -> None:
    def argo_applies(version: str) -> None:
        cluster.kubectl(
            "apply", "--server-side", "--field-manager=argocd-controller",
            "-n", models.namespace, "-f", "-", input=manifest("synced", version, replicas=2),
        )  # fmt: skip

    argo_applies("1.0.0")
    wait_serving(models, "synced", "1.0.0")
    argo_applies("2.0.0")
    wait_serving(models, "synced", "2.0.0")

    refused = ferry.refused("rollback", "synced")
    assert "spec.model is managed by argocd-controller (Argo CD)" in refused
    assert "revert the version in Git instead (back to 1.0.0)" in refused
    assert models.get("synced")["spec"]["model"]["version"] == "2.0.0"

    forced = ferry("rollback", "synced", "--force").stdout
    assert "rolled back md/synced to model 1.0.0" in forced
    assert "(taken from argocd-controller)" in forced
    wait_serving(models, "synced", "1.0.0")
    owners = {
        entry["manager"]
        for entry in models.get("synced")["metadata"]["managedFields"]
        if "f:version" in json.dumps(entry.get("fieldsV1", {}).get("f:spec", {}))
    }
    assert owners == {"kubectl-ferry"}


def test_status_exit_codes(
    ferry: Plugin, models: ModelDeployments, tmp_path: Path, cluster: ClusterAccess
) -> None:
    models.apply(manifest("fine", "1.0.0", replicas=1))
    assert "md/fine: Ready=True Serving" in ferry("status", "fine", "--timeout", "60s").stdout

    broken = {"sim.ferry.dev/init-exit-code": "10"}
    models.apply(manifest("broken", "1.0.0", replicas=1, pod_annotations=broken))
    models.wait_condition("broken", "Ready", "False", "ArtifactChecksumMismatch")
    said = ferry.refused("status", "broken")
    assert "md/broken: Ready=False ArtifactChecksumMismatch" in said

    gone = ferry.refused("status", "nothing")
    assert f"md/nothing not found in namespace {models.namespace}" in gone

    nowhere = yaml.safe_load(cluster.kubeconfig.read_text())
    nowhere["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    (tmp_path / "nowhere").write_text(yaml.safe_dump(nowhere))
    unreachable = ferry.refused("status", "fine", "--kubeconfig", str(tmp_path / "nowhere"))
    assert "cannot reach the API server at https://127.0.0.1:1" in unreachable


@pytest.fixture
def watch_output(ferry: Plugin) -> Iterator[Callable[..., list[str]]]:
    """Start `kubectl ferry get --watch`; the lines it printed so far, read in a thread."""
    started: list[subprocess.Popen[str]] = []
    lines: list[str] = []

    def start(*args: str) -> list[str]:
        argv = [ferry.kubectl, "ferry", "get", *args, "--watch", "-n", ferry.namespace]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=ferry.env())
        started.append(process)
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: lines.extend(stdout), daemon=True).start()
        return lines

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_get_shows_the_canary_and_watch_redraws(
    ferry: Plugin, models: ModelDeployments, watch_output: Callable[..., list[str]]
) -> None:
    analysis = {"intervalSeconds": 5, "minRequests": 50, "maxErrorRate": 0.01,
                "maxMeanLatencyMs": 200, "failureLimit": 1}  # fmt: skip
    steps = [{"weight": 25, "pause": {}}]
    canary = start_canary(models, "shown", steps, analysis=analysis)["revision"]
    wait_rollout(models, "shown", lambda r: bool(r.get("analysis")), "an analysis interval")
    stable = models.get("shown")["status"]["stableRevision"]

    shown = ferry("get", "shown").stdout
    print(shown)  # the report quotes one screen during a canary
    lines = shown.splitlines()
    assert "Paused at step 1/2 (25% wanted), attempt 1" in shown
    assert any(line.split()[:3] == ["stable", stable, "1.0.0"] for line in lines)
    assert any(line.split()[:4] == ["canary", canary, "2.0.0", "b" * 12] for line in lines)
    assert "thresholds: error rate <= 0.01, mean latency <= 200ms" in shown
    assert "Inconclusive" in shown  # kwok pods have no agent: no requests measured
    assert len([line for line in lines if " yes " in f"{line} "]) == 4  # four pods ready
    assert "RolloutStarted" in shown
    assert "RolloutPaused" in shown

    seen = watch_output("shown")
    eventually(lambda: "".join(seen), lambda text: "Paused at step 1/2" in text, 30, "a screen")
    ferry("promote", "shown")
    eventually(lambda: "".join(seen), lambda text: "serving 2.0.0" in text, 90, "a new screen")


def test_rollout_actions_role_steers_but_cannot_change_the_spec(
    cluster: ClusterAccess,
    models: ModelDeployments,
    ferry_operator: RunningOperator,
    service_account_kubeconfig: Callable[[str, str], Path],
) -> None:
    namespace = models.namespace
    models.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="steerer"))
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "steerer", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": f"{ferry_operator.service_account}-rollout-actions"},
        "subjects": [{"kind": "ServiceAccount", "name": "steerer", "namespace": namespace}],
    }  # fmt: skip
    cluster.apply_manifest(binding)
    steerer = Plugin(cluster, namespace, service_account_kubeconfig(namespace, "steerer"))
    canary = start_canary(models, "guarded", WAIT_FOR_PROMOTION)["revision"]

    assert "Paused at step 1/3" in steerer("get", "guarded").stdout
    assert (
        f"promoted md/guarded past step 1/3 (25%): revision {canary}"
        in steerer("promote", "guarded").stdout
    )
    wait_rollout(models, "guarded", lambda r: r.get("step") == 2, "step 2")

    patched = steerer.kubectl_as(
        "patch", "md", "guarded", "--type=merge", "-p", '{"spec":{"model":{"version":"3.0.0"}}}'
    )
    assert patched.returncode != 0
    assert "rollout-actions role may change only the annotations" in patched.stderr
    labelled = steerer.kubectl_as("label", "md", "guarded", "team=ml")
    assert "rollout-actions role may change only the annotations" in labelled.stderr
    refused = steerer.refused("rollback", "guarded", "--to", "1.0.0")
    assert "rollout-actions role may change only the annotations" in refused
    assert models.get("guarded")["spec"]["model"]["version"] == "2.0.0"
    assert steerer.kubectl_as("auth", "can-i", "update", "md").stdout.strip() == "no"
