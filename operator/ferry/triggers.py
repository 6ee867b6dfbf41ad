"""When reconciles run: folded per object, retried with backoff, resynced periodically, and
woken up when a time-based rollout step falls due.

Watches on the ModelDeployment and on every child (pods included) all ask for a reconcile of
the owner. One runs at a time per object; requests arriving meanwhile become one more run
after it, so the last observed change is always seen and a burst costs two runs, not fifty.
A reconcile may return a delay (a pause ends, an analysis interval is due): one timer per
object, the earliest, asks for the next run then.

A few reconciles run at once; the others wait their turn, the oldest object first and the
periodic resync last. So when a thousand models are applied together, the first ones become
Ready while the rest wait, instead of every model waiting behind every other model's first
step (first come, first served: all of them Ready only at the end).
"""

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable, Iterable
from typing import Any, Final, Generic, TypeVar

from ferry import metrics
from ferry.kube.api import ApiError

logger = logging.getLogger(__name__)
View = TypeVar("View")

# A reconcile that fails for a transient reason is retried this many times with backoff;
# after that the periodic resync still tries, so nothing loops tightly forever.
MAX_RETRIES: Final = 10
# A requested follow-up never comes sooner than this: a due step is not worth a busy loop.
MIN_REQUEUE_SECONDS: Final = 0.2
# Reconciles at once: as many threads as asyncio's default pool has on two cores.
CONCURRENT_RECONCILES: Final = 6


class Coalescer:
    def __init__(self) -> None:
        # key -> the work last requested while a run was under way (None: nothing since)
        self._next: dict[Hashable, Callable[[], Awaitable[None]] | None] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """The running loop goes once more, as the last request asked (its trigger counted)."""
        if key in self._next:
            self._next[key] = work
            return
        self._next[key] = None
        try:
            following: Callable[[], Awaitable[None]] | None = work
            while following is not None:
                await following()
                following, self._next[key] = self._next[key], None
        finally:
            del self._next[key]


class Turns:
    """At most `limit` holders at a time; the waiting get their turn lowest priority first,
    then in order of arrival."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._holders = 0
        self._waiting: list[tuple[Any, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, priority: Any) -> AsyncIterator[None]:
        if self._holders < self._limit and not self._waiting:
            self._holders += 1
        else:
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrivals), handed))
            try:
                await handed
            except asyncio.CancelledError:
                if handed.done() and not handed.cancelled():
                    self._hand_on()  # handed a turn, then cancelled before taking it
                raise
        try:
            yield
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        while self._waiting:
            _, _, handed = heapq.heappop(self._waiting)
            if not handed.done():  # a cancelled waiter has left
                handed.set_result(None)
                return
        self._holders -= 1


class ReconcileRunner(Generic[View]):
    """Runs `reconcile(namespace, name, view)` (blocking, so in a thread) on request, `view`
    being what `snapshot(namespace, name)` took on the event loop just before. `created`
    orders objects by age (their creationTimestamp), for their turns."""

    def __init__(
        self,
        reconcile: Callable[[str, str, View], float | None],
        retry_backoff_seconds: float,
        snapshot: Callable[[str, str], View],
        created: Callable[[str, str], str],
    ) -> None:
        self._reconcile = reconcile
        self._snapshot = snapshot
        self._created = created
        self._turns = Turns(CONCURRENT_RECONCILES)
        self._backoff = retry_backoff_seconds
        self._coalescer = Coalescer()
        self._tasks: set[asyncio.Task[None]] = set()  # strong references keep them alive
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    async def request(self, trigger: str, namespace: str, name: str, attempt: int = 1) -> None:
        async def once() -> None:
            started = time.monotonic()
            try:
                async with self._turns.turn((trigger == "resync", self._created(namespace, name))):
                    view = self._snapshot(namespace, name)
                    delay = await asyncio.to_thread(self._reconcile, namespace, name, view)
            except ApiError as error:
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                self._retry_later(error, namespace, name, attempt)
            except Exception:
                # A bug must not stop the operator: log it; the resync tries again.
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                logger.exception("%s/%s: reconcile failed", namespace, name)
            else:
                metrics.RECONCILES.labels(trigger=trigger, result="ok").inc()
                if delay is not None:
                    self._wake_up_in(delay, namespace, name)
            finally:
                metrics.RECONCILE_DURATION.observe(time.monotonic() - started)

        await self._coalescer.run((namespace, name), once)

    def start_resync(
        self, interval_seconds: float, keys: Iterable[tuple[str, str]], ready: asyncio.Event
    ) -> None:
        """Reconcile every object in `keys` (read afresh each round) every interval, once
        `ready` is set (the watch caches are filled)."""

        async def resync_forever() -> None:
            await ready.wait()
            while True:
                await asyncio.sleep(interval_seconds)
                for namespace, name in list(keys):
                    await self.request("resync", namespace, name)

        self._spawn(resync_forever())

    def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for timer in self._timers.values():
            timer.cancel()

    def _wake_up_in(self, delay: float, namespace: str, name: str) -> None:
        """Reconcile again after `delay`, unless a timer for the object fires sooner."""
        key, loop = (namespace, name), asyncio.get_running_loop()
        due = loop.time() + max(delay, MIN_REQUEUE_SECONDS)
        pending = self._timers.get(key)
        if pending is not None and pending.when() <= due:
            return
        if pending is not None:
            pending.cancel()

        def fire() -> None:
            del self._timers[key]
            self._spawn(self.request("timer", namespace, name))

        self._timers[key] = loop.call_at(due, fire)

    def _retry_later(self, error: ApiError, namespace: str, name: str, attempt: int) -> None:
        if attempt >= MAX_RETRIES:
            logger.warning("%s/%s: API server: %s; left to the resync", namespace, name, error)
            return
        logger.warning(
            "%s/%s: API server: %s; retrying in %.0fs", namespace, name, error, self._backoff
        )

        async def retry() -> None:
            await asyncio.sleep(self._backoff)
            await self.request("retry", namespace, name, attempt + 1)

        self._spawn(retry())

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
