"""The figure the `concurrency` metric reads: requests in flight at the front, and their mean.

The front keeps a gauge and its time integral; `window()` turns two snapshots into the mean
concurrency of the window (Little's law), however briefly each request lasted.
"""

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ferry.health.stats import PodStats, RequestStats, window
from ferry.runtime.front import FrontCollector, FrontCounters

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_is_a_gauge_and_its_integral_grows_with_time() -> None:
    clock = Clock()
    counters = FrontCounters(clock)
    with counters.in_flight("m"):
        clock.now += 1.0
        with counters.in_flight("m"):
            assert counters.models["m"].in_flight == 2
            clock.now += 0.5
        clock.now += 0.5
    clock.now += 10.0  # idle: the integral stops growing
    assert counters.models["m"].in_flight == 0
    assert counters.in_flight_seconds("m") == pytest.approx(1.0 + 2 * 0.5 + 0.5)
    assert counters.in_flight_seconds("unknown") == 0.0
    assert "unknown" not in counters.models  # reading does not invent models


def test_a_request_that_fails_or_is_cancelled_leaves_flight() -> None:
    counters = FrontCounters(Clock())
    with pytest.raises(RuntimeError), counters.in_flight("m"):
        raise RuntimeError("upstream vanished")

    async def cancelled() -> None:
        async def handler() -> None:
            with counters.in_flight("m"):
                await asyncio.sleep(60)

        task = asyncio.create_task(handler())
        await asyncio.sleep(0)
        assert counters.models["m"].in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert counters.models["m"].in_flight == 0


def test_in_flight_is_scraped_as_a_gauge_and_a_counter() -> None:
    clock = Clock()
    counters = FrontCounters(clock)
    registry = CollectorRegistry()
    registry.register(FrontCollector(counters))
    with counters.in_flight("m"):
        clock.now += 2.0
        text = generate_latest(registry).decode()
    assert 'ferry_front_in_flight{model="m"} 1.0' in text
    assert 'ferry_front_in_flight_seconds_total{model="m"} 2.0' in text


def snapshot(total: int, in_flight_seconds: float, in_flight: int = 0) -> PodStats:
    return PodStats(
        model="m",
        version="1",
        requests=RequestStats(total=total),
        in_flight=in_flight,
        in_flight_seconds_sum=in_flight_seconds,
    )


def test_window_mean_concurrency_is_the_integral_over_the_window() -> None:
    figures = window(snapshot(10, 50.0), snapshot(60, 92.0, in_flight=3), 10)
    assert figures.mean_concurrency == pytest.approx(4.2)
    assert window(None, snapshot(5, 6.0), 3).mean_concurrency == pytest.approx(2.0)
    assert window(snapshot(1, 1.0), snapshot(1, 1.0), 0).mean_concurrency == 0.0


def test_window_across_a_restart_counts_the_integral_from_zero() -> None:
    # The new launcher has already answered more requests than the old one had: only the
    # integral, which never falls otherwise, shows the restart.
    figures = window(snapshot(10, 500.0), snapshot(40, 8.0), 4)
    assert (figures.requests, figures.mean_concurrency) == (40, 2.0)


def test_stats_json_names_the_in_flight_fields() -> None:
    document = snapshot(1, 2.5, in_flight=1).model_dump(mode="json", by_alias=True)
    assert (document["inFlight"], document["inFlightSecondsSum"]) == (1, 2.5)
    old_agent = {"model": "m", "version": "1", "requests": {"total": 3}}
    assert PodStats.model_validate(old_agent).in_flight_seconds_sum == 0.0
