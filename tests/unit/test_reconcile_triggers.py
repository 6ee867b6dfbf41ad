"""Concurrent reconcile requests fold together and wait their turns, oldest object first
(unit world: pure asyncio, no API)."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ferry.triggers import Coalescer, Turns

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


def test_the_run_after_a_burst_is_the_last_request_so_its_trigger_is_the_one_counted() -> None:
    coalescer = Coalescer()
    ran: list[str] = []

    def work(trigger: str) -> Callable[[], Awaitable[None]]:
        async def once() -> None:
            ran.append(trigger)
            await asyncio.sleep(0.01)

        return once

    async def burst() -> None:
        first = asyncio.create_task(coalescer.run("md", work("resync")))
        await asyncio.sleep(0)
        await coalescer.run("md", work("deployments"))
        await coalescer.run("md", work("event"))
        await first

    asyncio.run(burst())
    assert ran == ["resync", "event"]


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


async def hold(
    turns: Turns, ran: list[str], label: str, priority: tuple[bool, str], seconds: float = 0.01
) -> None:
    """Take a turn, note it in `ran`, keep it `seconds`."""
    async with turns.turn(priority):
        ran.append(label)
        await asyncio.sleep(seconds)


def test_waiting_runs_take_their_turns_lowest_priority_first_then_in_arrival_order() -> None:
    turns, order = Turns(limit=2), []

    async def storm() -> None:
        first = [
            asyncio.create_task(hold(turns, order, f"first-{i}", (False, "b"))) for i in (0, 1)
        ]
        await asyncio.sleep(0)  # both hold a turn: every other run waits
        waiting = [
            hold(turns, order, "resync", (True, "a")),
            hold(turns, order, "newer", (False, "c")),
            hold(turns, order, "older", (False, "a")),
            hold(turns, order, "older-again", (False, "a")),
        ]
        await asyncio.gather(*first, *waiting)

    asyncio.run(storm())
    assert order == ["first-0", "first-1", "older", "older-again", "newer", "resync"]


def test_a_waiter_cancelled_before_its_turn_gives_it_on() -> None:
    turns, ran = Turns(limit=1), []

    async def scenario() -> None:
        holder = asyncio.create_task(hold(turns, ran, "a", (False, "a")))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(hold(turns, ran, "b", (False, "b")))
        later = asyncio.create_task(hold(turns, ran, "c", (False, "c")))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(holder, later)
        # the turn is free again: a new holder gets it at once
        await asyncio.wait_for(hold(turns, ran, "d", (False, "d")), timeout=1)

    asyncio.run(scenario())
    assert ran == ["a", "c", "d"]


def test_a_turn_handed_to_a_waiter_cancelled_before_it_ran_passes_on() -> None:
    turns, ran = Turns(limit=1), []

    async def scenario() -> None:
        waiters: list[asyncio.Task[None]] = []

        async def holder() -> None:
            async with turns.turn((False, "a")):
                ran.append("a")
                waiters.extend(
                    asyncio.create_task(hold(turns, ran, label, (False, label), seconds=0))
                    for label in ("b", "c")
                )
                await asyncio.sleep(0.01)
            waiters[0].cancel()  # handed the turn just now, and not yet resumed

        await holder()
        await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), timeout=1)

    asyncio.run(scenario())
    assert ran == ["a", "c"]
