"""Concurrent reconcile requests fold together (unit world: pure asyncio, no API)."""

import asyncio

import pytest

from ferry.triggers import Coalescer

pytestmark = pytest.mark.unit


def test_a_burst_of_triggers_costs_two_runs_and_the_last_one_sees_everything() -> None:
    coalescer = Coalescer()
    seen: list[int] = []
    world = {"version": 0}

    async def work() -> None:
        seen.append(world["version"])
        await asyncio.sleep(0.01)

    async def burst() -> None:
        first = asyncio.create_task(coalescer.run("md", work))
        await asyncio.sleep(0)
        for version in range(1, 51):
            world["version"] = version
            await coalescer.run("md", work)
        await first

    asyncio.run(burst())
    assert seen == [0, 50]


def test_different_objects_do_not_wait_for_each_other() -> None:
    coalescer = Coalescer()
    running: set[str] = set()
    overlapped = False

    async def work(key: str) -> None:
        nonlocal overlapped
        running.add(key)
        await asyncio.sleep(0.01)
        overlapped = overlapped or running == {"a", "b"}
        running.discard(key)

    async def both() -> None:
        await asyncio.gather(
            coalescer.run("a", lambda: work("a")), coalescer.run("b", lambda: work("b"))
        )

    asyncio.run(both())
    assert overlapped


def test_a_failing_run_releases_the_object() -> None:
    coalescer = Coalescer()

    async def fail() -> None:
        raise RuntimeError("boom")

    async def ok() -> None:
        return None

    with pytest.raises(RuntimeError):
        asyncio.run(coalescer.run("md", fail))
    asyncio.run(coalescer.run("md", ok))  # not stuck as "running"
