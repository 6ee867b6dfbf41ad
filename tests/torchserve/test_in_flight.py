"""The front's in-flight figures (`inFlight`, `inFlightSecondsSum`) under a known concurrent load.

The model batches 8 requests with a 100 ms delay, so a request from fewer than 8 clients waits
about 100 ms in TorchServe: each client of a closed loop has one request outstanding nearly all
of the time, and the load the front sees is close to the number of clients.
"""

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from ferry.health.stats import PodStats, window

from .conftest import Artifacts, Packager, ServedModel, running

pytestmark = pytest.mark.torchserve

CLIENTS = 4  # fewer than the batch size: every batch waits out its delay
LOAD_SECONDS = 3.0
BODY = {"data": [[0.5] * 16]}


@pytest.fixture(scope="module")
def model(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, package: Packager
) -> Iterator[ServedModel]:
    served = ServedModel(
        tmp_path_factory.mktemp("inflight"),
        "tiny_inflight",
        "1.0",
        archive=package(artifacts.export, "tiny_inflight", "--input-shape", "16"),
        batch_size=8,
        max_batch_delay_ms=100,
    )
    with running(served):
        served.wait_ready()
        yield served


def closed_loop(model: ServedModel, clients: int, seconds: float) -> float:
    """`clients` threads each send one request after another until the deadline.

    Returns the client-side seconds spent waiting for answers, summed over all requests:
    divided by the window it is the concurrency the clients actually offered.
    """
    deadline = time.monotonic() + seconds
    waited = [0.0] * clients
    failures: list[str] = []

    def client(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                answer = session.post(
                    f"{model.front}/predictions/{model.name}", json=BODY, timeout=30
                )
                waited[index] += time.perf_counter() - started
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[:3]
    return sum(waited)


def stats(model: ServedModel) -> PodStats:
    return PodStats.model_validate(model.stats())


def test_mean_concurrency_is_the_load_the_clients_sent(model: ServedModel) -> None:
    before, started = stats(model), time.monotonic()
    offered_seconds = closed_loop(model, CLIENTS, LOAD_SECONDS)
    after = stats(model)
    seconds = time.monotonic() - started
    figures = window(before, after, seconds)
    offered = offered_seconds / seconds
    assert 0.8 * CLIENTS <= offered <= CLIENTS
    # The front's share of each request is a little shorter than the client's.
    assert 0.85 * offered <= figures.mean_concurrency <= offered
    # Little's law on the front's own counters: every request of the window started and
    # ended inside it, so the in-flight integral is the sum of the latencies.
    integral = after.in_flight_seconds_sum - before.in_flight_seconds_sum
    latencies = (after.latency_micros_sum - before.latency_micros_sum) / 1e6
    assert integral == pytest.approx(latencies, rel=0.02)
    assert after.in_flight == 0


def test_in_flight_counts_requests_being_answered(model: ServedModel) -> None:
    seen: list[int] = []
    load = threading.Thread(target=closed_loop, args=(model, CLIENTS, LOAD_SECONDS))
    load.start()
    time.sleep(0.5)  # the clients are all sending by now
    while load.is_alive() and len(seen) < 20:
        seen.append(stats(model).in_flight)
        time.sleep(0.05)
    load.join()
    assert max(seen) >= 1
    assert all(0 <= in_flight <= CLIENTS for in_flight in seen)
    assert stats(model).in_flight == 0


def test_abandoned_requests_leave_nothing_in_flight(model: ServedModel) -> None:
    for _ in range(CLIENTS):
        with pytest.raises(requests.Timeout):  # gone long before TorchServe answers
            requests.post(f"{model.front}/predictions/{model.name}", json=BODY, timeout=0.02)
    deadline = time.monotonic() + 10
    while stats(model).in_flight and time.monotonic() < deadline:
        time.sleep(0.1)
    idle, started = stats(model), time.monotonic()
    assert idle.in_flight == 0
    time.sleep(1.0)
    assert window(idle, stats(model), time.monotonic() - started).mean_concurrency == 0
