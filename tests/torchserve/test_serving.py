"""Serve one small model packaged three ways through ferry-serve and a real TorchServe."""

import concurrent.futures
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psutil
import pytest
import requests
import torch

from ferry.health.stats import PodStats, window

from .conftest import Artifacts, Packager, ServedModel, reference, running

pytestmark = pytest.mark.torchserve

ROWS = [[0.1 * (i + j) for j in range(16)] for i in range(3)]
CLIENT_TOKEN = "s3cret-client-token"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, package: Packager
) -> Iterator[dict[str, ServedModel]]:
    class_option = ("--model-class", f"{Path(__file__).parent / 'tinynet.py'}:TinyNet")
    models = {
        "export": ServedModel(
            tmp_path_factory.mktemp("export"),
            "tiny_export",
            "1.0",
            archive=package(
                artifacts.export, "tiny_export", "--input-shape", "16", "--warmup", "1"
            ),
            batch_size=8,
            max_batch_delay_ms=100,
        ),
        "torchscript": ServedModel(
            tmp_path_factory.mktemp("ts"),
            "tiny_ts",
            "1.0",
            archive=package(artifacts.torchscript, "tiny_ts"),
        ),
        "state_dict": ServedModel(
            tmp_path_factory.mktemp("sd"),
            "tiny_sd",
            "1.0",
            archive=package(artifacts.state_dict, "tiny_sd", *class_option, "--input-shape", "16"),
            client_token=CLIENT_TOKEN,
        ),
    }
    with running(*models.values()):
        yield models


def ready(served: dict[str, ServedModel], kind: str) -> ServedModel:
    model = served[kind]
    model.wait_ready()
    return model


@pytest.mark.parametrize("kind", ["export", "torchscript", "state_dict"])
def test_predictions_match_the_model_called_in_process(
    served: dict[str, ServedModel], artifacts: Artifacts, kind: str
) -> None:
    model = ready(served, kind)
    answer = model.predict({"data": ROWS})
    assert answer.status_code == 200, answer.text
    torch.testing.assert_close(torch.tensor(answer.json()), reference(artifacts.model, ROWS))
    bare = model.predict(ROWS[:1])  # a bare nested list is the same request
    torch.testing.assert_close(torch.tensor(bare.json()), reference(artifacts.model, ROWS[:1]))


def test_concurrent_requests_are_batched_and_answered_in_order(
    served: dict[str, ServedModel], artifacts: Artifacts
) -> None:
    model = ready(served, "export")
    before = model.customized()
    requests_rows = [[[float(i) / 10] * 16] for i in range(32)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda rows: model.predict({"data": rows}), requests_rows))
    for rows, answer in zip(requests_rows, answers, strict=True):
        assert answer.status_code == 200, answer.text
        torch.testing.assert_close(torch.tensor(answer.json()), reference(artifacts.model, rows))
    after = model.customized()
    batches = after["batches"] - before["batches"]
    assert after["requests"] - before["requests"] == 32
    assert batches < 32, f"32 concurrent requests took {batches} forward passes"
    assert after["largestBatch"] > 1


def test_a_malformed_request_fails_alone_in_its_batch(served: dict[str, ServedModel]) -> None:
    model = ready(served, "export")
    bodies: list[object] = [{"data": [[1.0] * 16]} for _ in range(8)]
    bodies[3] = {"data": [[1.0] * 5]}  # wrong instance shape
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(model.predict, bodies))
    assert [a.status_code for a in answers] == [200, 200, 200, 400, 200, 200, 200, 200]
    assert "shape [5], want [16]" in answers[3].json()["error"]


def test_stats_count_what_the_clients_sent(served: dict[str, ServedModel]) -> None:
    model = ready(served, "export")
    before = PodStats.model_validate(model.stats())
    started = time.monotonic()
    client_micros = 0.0
    sent = [{"data": [[0.5] * 16]}] * 20 + [{"nonsense": 1}] * 3  # 3 rejected inputs: 400
    sent += [{"inputs": {"bogus": [[0.5] * 16]}}] * 2  # the model fails on them: 500
    for body in sent:
        t0 = time.perf_counter()
        model.predict(body)
        client_micros += (time.perf_counter() - t0) * 1e6
    after = PodStats.model_validate(model.stats())
    figures = window(before, after, time.monotonic() - started)
    assert figures.requests == 25
    assert after.requests.errors4xx - before.requests.errors4xx == 3
    assert after.requests.errors5xx - before.requests.errors5xx == 2
    assert figures.error_rate == pytest.approx(2 / 25)
    assert figures.client_error_rate == pytest.approx(3 / 25)
    client_mean_ms = client_micros / 25 / 1000
    assert figures.mean_latency_ms is not None
    assert 0.3 * client_mean_ms <= figures.mean_latency_ms <= client_mean_ms
    assert figures.mean_queue_ms is not None
    assert figures.mean_queue_ms >= 0
    assert after.workers.ready == 1
    assert after.load_seconds is not None


def test_token_auth_stays_on_and_management_stays_inside(served: dict[str, ServedModel]) -> None:
    model = ready(served, "export")
    body = {"data": [[0.0] * 16]}
    assert (
        requests.post(f"{model.ts_inference}/predictions/tiny_export", json=body).status_code == 400
    )
    assert requests.get(f"{model.ts_management}/models").status_code == 400
    management = {"Authorization": f"Bearer {model.keys().management}"}
    register = requests.post(f"{model.ts_management}/models?url=x.mar", headers=management)
    assert register.status_code == 405
    assert (
        requests.get(f"{model.front}/models").status_code == 404
    )  # the front forwards inference only
    listening = {
        c.laddr.port: c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    for port in ("ts_inf", "ts_mgmt", "ts_metrics", "grpc_inf", "grpc_mgmt"):
        address = ipaddress.ip_address(listening[model.ports[port]])
        mapped = getattr(address, "ipv4_mapped", None)
        assert (mapped or address).is_loopback, f"{port} listens on {address}"
    assert listening[model.ports["front"]] == "0.0.0.0"


def test_client_token_is_required_when_configured(served: dict[str, ServedModel]) -> None:
    model = ready(served, "state_dict")
    assert model.predict({"data": ROWS}).status_code == 200
    wrong = model.predict({"data": ROWS}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    anonymous = requests.post(f"{model.front}/predictions/tiny_sd", json={"data": ROWS})
    assert anonymous.status_code == 401


def test_front_follows_a_rotated_inference_key(served: dict[str, ServedModel]) -> None:
    model = ready(served, "torchscript")
    old = model.keys().inference
    rotate = requests.get(
        f"{model.ts_management}/token?type=inference",
        headers={"Authorization": f"Bearer {model.keys().api}"},
    )
    assert rotate.status_code == 200
    assert model.keys().inference != old
    assert model.predict({"data": ROWS}).status_code == 200


def test_killed_worker_makes_the_pod_unready_until_it_restarts(
    served: dict[str, ServedModel], tinynet: ModuleType
) -> None:
    model = ready(served, "state_dict")
    worker_pid = requests.get(
        f"{model.ts_management}/models/tiny_sd",
        headers={"Authorization": f"Bearer {model.keys().management}"},
    ).json()[0]["workers"][0]["pid"]
    psutil.Process(worker_pid).kill()
    body = model.wait_for(lambda status, _: status == 503, seconds=10)
    assert body["reason"] == "WorkersNotReady"
    model.wait_ready(seconds=60)
    assert model.predict({"data": ROWS}).status_code == 200
