"""Ferry's own autoscaler on real pods: replicas follow the load measured in the pods (mean
concurrency at each pod's front, by Little's law over its in-flight integral), up and
down, and during a canary the added pods land on both revisions in proportion.

Load is closed-loop clients through the Service's ClusterIP against `slow` (0.2 s per
forward pass), so N clients are about N requests in flight, spread over the ready pods
(tests/pods/scaling.py). The operator evaluates every AUTOSCALE_INTERVAL_SECONDS (5 s on
this tier); the scale-down window is shortened to 20 s. A real HorizontalPodAutoscaler on
CPU (metrics-server built from its Go module, tests/pods/metrics_server.py) scales a model
without spec.autoscaling through the scale subresource.

World: the session's local cluster and real node, the operator on the host reading the
pods' agents by pod IP, the archives on the host's artifact server.
"""

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from e2e.localcluster import ClusterAccess
from ferry.api import labels
from tests.cluster.helpers import eventually, stays
from tests.cluster.rollouts import Recorder, moment, replicas_by_revision, status
from tests.pods.artifacts import PodModels
from tests.pods.load import LoadLoop, Response
from tests.pods.metrics_server import metrics_server_running
from tests.pods.scaling import (
    AUTOSCALE_INTERVAL_SECONDS,
    ROWS,
    autoscaling,
    changes,
    clients,
    desired_counts,
    scaled_events,
)
from tests.pods.serving import READY_SECONDS, RealModels, first_answer, model_deployment

pytestmark = pytest.mark.pods

TARGET = 2  # requests in flight per pod
DOWN_WINDOW = 20  # spec.autoscaling.scaleDown.stabilizationSeconds, shortened from 300
STEADY = 4 * AUTOSCALE_INTERVAL_SECONDS  # a steady phase: four evaluations
DECIDE = 6 * AUTOSCALE_INTERVAL_SECONDS  # bound for a decision to show in status
LOAD_SECONDS = 600  # bounds every load loop; each is stopped when its phase ends


def policy(minimum: int, maximum: int) -> dict[str, Any]:
    return {
        "minReplicas": minimum,
        "maxReplicas": maximum,
        "metric": "concurrency",
        "target": TARGET,
        "scaleDown": {"stabilizationSeconds": DOWN_WINDOW},
    }


def wait_desired(models: RealModels, name: str, count: int, timeout: float) -> dict[str, Any]:
    return eventually(
        lambda: autoscaling(status(models, name)),
        lambda found: found.get("desiredReplicas") == count,
        timeout,
        f"{name}: status.autoscaling.desiredReplicas {count}",
    )


def wait_ready_pods(models: RealModels, name: str, count: int) -> None:
    eventually(
        lambda: len(models.ready_pods(name)),
        lambda ready: ready == count,
        READY_SECONDS,
        f"{name}: {count} ready pods",
    )


def hold_steady(models: RealModels, name: str, count: int) -> None:
    """No flapping: the desired count stays put through a phase of constant load."""
    stays(
        lambda: autoscaling(status(models, name)).get("desiredReplicas"),
        lambda desired: desired == count,
        STEADY,
        f"{name}: desiredReplicas steady at {count} under constant load",
    )


def wait_no_terminating_pod(models: RealModels, name: str) -> None:
    selector = f"{labels.MODEL_DEPLOYMENT}={name}"
    eventually(
        lambda: [
            p.metadata.name
            for p in models.core.list_namespaced_pod(
                models.namespace, label_selector=selector
            ).items
            if p.metadata.deletion_timestamp is not None
        ],
        lambda terminating: terminating == [],
        READY_SECONDS,
        f"{name}: no pod terminating",
    )


def stop(*loops: LoadLoop) -> list[Response]:
    for loop in loops:
        loop.stop()
    return [r for loop in loops for r in loop.wait().failures()]


def unanswered(failures: list[Response], since: float) -> list[str]:
    """Failed requests, each with when it was sent, in seconds after `since` (a phase's
    start, on the failed loop's clock when that loop started with the phase)."""
    return [f"{r.sent_at - since:+.1f}s {r.status} {r.error[-80:]}" for r in failures]


def test_replicas_rise_with_concurrency_and_fall_back_after_the_scale_down_window(
    cluster: ClusterAccess, pod_models: PodModels, real_models: RealModels
) -> None:
    models, node, name = real_models, cluster.real_node, "scaled"
    models.apply_md(model_deployment(pod_models.slow, node, name, autoscaling=policy(1, 3)))
    models.wait_ready(name)
    url = models.prediction_url(name, "podnet")
    assert first_answer(url, ROWS)[0] == 200
    with Recorder(models, name) as recorder:
        base = clients(node, url, 1, LOAD_SECONDS).start()  # 1 in flight: below the target
        hold_steady(models, name, 1)
        more = clients(node, url, 3, LOAD_SECONDS).start()  # 4 on 1 pod: twice the target
        wait_desired(models, name, 2, DECIDE)
        wait_ready_pods(models, name, 2)
        hold_steady(models, name, 2)  # 4 on 2 pods: on target
        at_two = autoscaling(status(models, name))
        most = clients(node, url, 2, LOAD_SECONDS).start()  # 6 on 2 pods: 1.5 x the target
        wait_desired(models, name, 3, DECIDE)
        wait_ready_pods(models, name, 3)
        hold_steady(models, name, 3)
        up_failures = stop(more, most)  # back to 1 in flight
        dropped, dropped_at = datetime.now(UTC), time.monotonic() - base.started
        down = wait_desired(models, name, 1, DOWN_WINDOW + DECIDE)
        wait_ready_pods(models, name, 1)
        failures = stop(base)  # the loops that ran through the scale-down
        counts = desired_counts(recorder)

    # Up one pod per step of load, then down in at most two steps (a recommendation of 2
    # from the evaluation whose window held the drop can outlast the 3s by one interval).
    assert counts in ([1, 2, 3, 1], [1, 2, 3, 2, 1]), counts
    scaled = scaled_events(models, name)
    assert len(scaled) == len(changes(counts)), (scaled, counts)  # one per change, no more
    for message, change in zip(scaled, changes(counts), strict=True):
        assert message.endswith(f": {change}"), (message, change)
    assert "concurrency" in at_two["reason"], at_two
    assert f"target {TARGET}" in at_two["reason"], at_two
    assert 1.0 <= at_two["metricValue"] <= 4 / 2 + 0.05, at_two  # 4 clients over 2 pods
    # Nothing scaled down before the window since the last high recommendation (at most one
    # interval before the load dropped) had passed.
    assert moment(down["lastScaleTime"]) >= dropped + timedelta(
        seconds=DOWN_WINDOW - AUTOSCALE_INTERVAL_SECONDS - 1
    ), (down, dropped)
    assert up_failures == [], up_failures[:3]  # every request answered while scaling up
    # ... and while a scale-down removes pods (seconds after the load dropped):
    assert failures == [], unanswered(failures, dropped_at)


def test_load_during_a_canary_adds_pods_to_both_revisions_in_proportion(
    cluster: ClusterAccess, pod_models: PodModels, real_models: RealModels
) -> None:
    """v1 stable, `slow` as the canary paused at 50 %: 2 replicas (1 + 1), then load that
    asks for 4 (2 + 2); analysis keeps measuring the canary's share of the traffic."""
    models, node, name = real_models, cluster.real_node, "canaried"
    rollout = {
        "steps": [{"weight": 50, "pause": {}}],
        "analysis": {"intervalSeconds": 10, "minRequests": 5, "maxErrorRate": 0.05},
    }
    spec = {"autoscaling": policy(2, 4), "rollout": rollout}
    models.apply_md(model_deployment(pod_models.v1, node, name, **spec))
    models.wait_ready(name)
    wait_ready_pods(models, name, 2)
    models.apply_md(model_deployment(pod_models.slow, node, name, **spec))
    paused = eventually(
        lambda: status(models, name),
        lambda seen: (
            (seen.get("rollout") or {}).get("phase") == "Paused"
            and len(models.ready_pods(name)) == 2
        ),
        READY_SECONDS,
        f"{name}: the canary paused at 50 % of 2 replicas",
    )
    stable, canary = paused["stableRevision"], paused["canaryRevision"]
    assert replicas_by_revision(models, name) == {stable: 1, canary: 1}
    # The load starts once the stable pod the step replaced is gone: a terminating pod
    # refuses connections kube-proxy still sends it (test_a_scale_down_under_load_...).
    wait_no_terminating_pod(models, name)
    url = models.prediction_url(name, "podnet")
    with Recorder(models, name) as recorder:
        load = clients(node, url, 8, LOAD_SECONDS).start()  # ~8 in flight over 2 pods
        wait_desired(models, name, 4, DECIDE)
        eventually(
            lambda: {v: len(models.ready_pods(name, v)) for v in (pod_models.v1.version,
                                                                  pod_models.slow.version)},
            lambda ready: set(ready.values()) == {2},
            READY_SECONDS,
            f"{name}: 2 ready pods of each revision",
        )  # fmt: skip
        all_ready = datetime.now(UTC)
        later = eventually(
            lambda: (status(models, name).get("rollout") or {}).get("analysis") or [],
            lambda records: (
                bool(records)
                and moment(records[0]["at"])
                > all_ready + timedelta(seconds=rollout["analysis"]["intervalSeconds"])
            ),
            READY_SECONDS,
            f"{name}: an analysis interval wholly at 2 + 2 pods",
        )[0]
        hold_steady(models, name, 4)
        failures = stop(load)
        wait_desired(models, name, 2, DOWN_WINDOW + DECIDE)
        eventually(
            lambda: replicas_by_revision(models, name),
            lambda replicas: replicas == {stable: 1, canary: 1},
            60,
            f"{name}: back to 1 + 1 without the load",
        )
        pairs = recorder.replica_pairs(stable, canary)
    # The recorder's first list may name the canary's Deployment before the stable's: (0, n).
    pairs = pairs[1:] if pairs and pairs[0][0] == 0 else pairs

    assert (2, 2) in pairs, pairs
    # Every count the Deployments were asked for splits a total 50/50 (the canary's half
    # rounded up), give or take the one pod a change surges or drains first.
    assert all(abs(s - c) <= 1 and c >= 1 and s >= 1 for s, c in pairs), pairs
    assert later["requests"] >= rollout["analysis"]["minRequests"], later
    assert later["verdict"] == "Passed", later
    final = status(models, name)
    assert (final["rollout"]["phase"], final["rollout"]["step"]) == ("Paused", 1), final
    assert final["canaryRevision"] == canary, final
    assert [h for h in final.get("history") or [] if h["revision"] == canary] == [], final
    assert failures == [], unanswered(failures, 0)


def test_a_scale_down_under_load_refuses_no_request(
    cluster: ClusterAccess, pod_models: PodModels, real_models: RealModels
) -> None:
    """Whoever lowers the count (Ferry's autoscaler, an HPA, `kubectl scale`), the pods it
    removes must not refuse what clients still send them: kube-proxy drops a terminating
    pod from the Service a moment after the pod learns it is going."""
    models, node, name = real_models, cluster.real_node, "drained"
    models.apply_md(model_deployment(pod_models.v1, node, name, replicas=3))
    models.wait_ready(name)
    wait_ready_pods(models, name, 3)
    url = models.prediction_url(name, "podnet")
    assert first_answer(url, ROWS)[0] == 200
    body = [{"data": ROWS}]
    with LoadLoop(node, url, body, requests=4000, seconds=90, concurrency=4, rate=40) as load:
        time.sleep(3)
        scaled_at = time.monotonic() - load.started
        cluster.kubectl("scale", "-n", models.namespace, f"md/{name}", "--replicas=1")
        wait_ready_pods(models, name, 1)
        wait_no_terminating_pod(models, name)
        time.sleep(2)
    result = load.result()
    assert result.count(lambda r: r.sent_at > scaled_at) >= 100, result.statuses()
    assert result.failures() == [], unanswered(result.failures(), scaled_at)


def replicas_managers(md: dict[str, Any]) -> set[tuple[str, str]]:
    """(manager, subresource) of every field manager that owns spec.replicas."""
    return {
        (entry["manager"], entry.get("subresource", ""))
        for entry in md["metadata"].get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    }


def test_a_real_hpa_on_cpu_scales_a_model_through_the_scale_subresource(
    cluster: ClusterAccess, pod_models: PodModels, real_models: RealModels
) -> None:
    """Without spec.autoscaling an HPA owns spec.replicas: CPU load (as metrics-server reads
    it from the real kubelet) raises it through the scale subresource, and Ferry serves the
    count without writing replicas itself. Adding spec.autoscaling then is reported, naming
    the HPA, and Ferry's own decision is what runs."""
    models, node, name = real_models, cluster.real_node, "cpu"
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "podnet-cpu"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "serving.ferry.dev/v1alpha1",
                "kind": "ModelDeployment",
                "name": name,
            },
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 30},
                    },
                }
            ],
        },
    }
    with metrics_server_running(cluster):
        models.apply_md(model_deployment(pod_models.v1, node, name, replicas=1))
        models.wait_ready(name)
        models.apply(yaml.safe_dump(hpa))
        url = models.prediction_url(name, "podnet")
        assert first_answer(url, ROWS)[0] == 200
        body = [{"data": ROWS}]
        with LoadLoop(node, url, body, requests=20000, seconds=240, concurrency=3, rate=60):
            scaled = eventually(
                lambda: models.get(name),
                lambda md: md["spec"]["replicas"] == 2,
                180,
                f"{name}: spec.replicas 2 from the HPA",
            )
            wait_ready_pods(models, name, 2)
            found = cluster.kubectl("get", "-n", models.namespace, "hpa/podnet-cpu", "-o=json")
            seen = json.loads(found.stdout)["status"]
        # Without spec.replicas, as a manifest must once an HPA owns it (server-side apply
        # refuses to take a field another manager holds).
        both = model_deployment(pod_models.v1, node, name, autoscaling=policy(1, 1))
        del both["spec"]["replicas"]
        models.apply_md(both)
        conflict = models.wait_condition(
            name, "AutoscalerConflict", "True", "HorizontalPodAutoscaler"
        )
        wait_ready_pods(models, name, 1)

    # The HPA measured the pods' CPU above its target, and wrote the count through the
    # scale subresource; the operator never wrote spec.replicas.
    (current,) = seen["currentMetrics"]
    assert current["resource"]["name"] == "cpu", seen
    assert current["resource"]["current"]["averageUtilization"] > 30, seen
    managers = replicas_managers(scaled)
    assert any(subresource == "scale" for _, subresource in managers), managers
    assert not any(manager == "ferry" for manager, _ in managers), managers
    assert "podnet-cpu" in conflict["message"], conflict
    assert autoscaling(status(models, name))["desiredReplicas"] == 1
