"""A bounded load loop against a model on the real node: what rollout and autoscaling tests
drive, and what tells them what a client saw.

It sends at most `requests` predictions, for at most `seconds`, from `concurrency` threads,
optionally paced to `rate` requests per second in all, and stops by itself at whichever
bound comes first (or at `stop()`). Targets are checked: only addresses inside the real
node's pod or service range (its pods and ClusterIPs), never anything else. Every request
opens its own connection by default, so kube-proxy balances each one across the Service's
ready pods (a kept-alive connection would stay with one pod and hide a traffic split).

    with LoadLoop(node, url, bodies, requests=400, seconds=60, rate=10) as load:
        ...  # roll out, scale, break things
    result = load.result()
    assert result.failures() == []
"""

import ipaddress
import itertools
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from e2e.localcluster.realnode import RealNode

NO_ANSWER = 0  # status of a request that got no HTTP answer (refused, reset, timed out)


@dataclass(frozen=True)
class Response:
    index: int  # which request of the loop (bodies are sent round-robin by index)
    sent_at: float  # seconds after the loop started
    seconds: float  # until the whole answer arrived (or the error)
    status: int  # HTTP status, or NO_ANSWER
    body: Any  # the parsed JSON answer (None if not JSON)
    error: str = ""  # why there was no answer


@dataclass
class LoadResult:
    responses: list[Response] = field(default_factory=list)
    started_at: float = 0.0  # wall clock (time.time()) when the loop started: relates
    # `Response.sent_at` to timestamps in the API (status, events)

    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.responses)

    def failures(self) -> list[Response]:
        """Every response that was not a 200 (HTTP errors and requests without an answer)."""
        return [r for r in self.responses if r.status != 200]

    def latencies(self, status: int = 200) -> list[float]:
        return [r.seconds for r in self.responses if r.status == status]

    def count(self, accept: Callable[[Response], bool]) -> int:
        return sum(1 for r in self.responses if accept(r))


def local_target(node: RealNode, url: str) -> str:
    """`url`, if its host is a pod IP or ClusterIP of the real node; ValueError otherwise."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"load target {url!r}: use a pod IP or ClusterIP, not a name") from None
    ranges = [ipaddress.ip_network(node.pod_cidr), ipaddress.ip_network(node.service_cidr)]
    if not any(address in network for network in ranges):
        raise ValueError(f"load target {url!r} is outside the real node's {ranges}")
    return url


class LoadLoop:
    def __init__(
        self,
        node: RealNode,
        url: str,
        bodies: Sequence[Any],
        *,
        requests: int,
        seconds: float,
        concurrency: int = 2,
        rate: float | None = None,
        timeout: float = 10,
        keep_alive: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if requests < 1 or seconds <= 0 or concurrency < 1 or not bodies:
            raise ValueError(
                "a load loop needs requests >= 1, seconds > 0, concurrency >= 1, bodies"
            )
        self.url = local_target(node, url)
        self.bodies = list(bodies)
        self.limit, self.seconds, self.rate = requests, seconds, rate
        self.timeout = timeout
        self.headers = {**(headers or {}), **({} if keep_alive else {"Connection": "close"})}
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._result = LoadResult()
        self._started = 0.0
        self._threads = [
            threading.Thread(target=self._worker, name=f"load-{i}", daemon=True)
            for i in range(concurrency)
        ]

    def start(self) -> "LoadLoop":
        self._started = time.monotonic()
        self._result.started_at = time.time()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def started(self) -> float:
        """`time.monotonic()` when the loop started: responses' `sent_at` count from here."""
        return self._started

    def wait(self, timeout: float | None = None) -> LoadResult:
        """Until the loop has sent everything it will send (its bounds end it)."""
        deadline = time.monotonic() + (
            self.seconds + self.timeout + 5 if timeout is None else timeout
        )
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            raise AssertionError(f"the load loop on {self.url} did not end by its bounds")
        return self.result()

    def result(self) -> LoadResult:
        """What has been answered so far, in the order requests were sent."""
        with self._lock:
            ordered = sorted(self._result.responses, key=lambda r: r.index)
            return LoadResult(ordered, self._result.started_at)

    def __enter__(self) -> "LoadLoop":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
        self.wait()

    def _worker(self) -> None:
        session = requests.Session()
        try:
            while not self._stop.is_set():
                index = next(self._next)
                due = self._started + (index / self.rate if self.rate else 0.0)
                if index >= self.limit or due - self._started >= self.seconds:
                    return
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                if time.monotonic() - self._started >= self.seconds:
                    return
                response = self._send(session, index)
                with self._lock:
                    self._result.responses.append(response)
        finally:
            session.close()

    def _send(self, session: requests.Session, index: int) -> Response:
        body = self.bodies[index % len(self.bodies)]
        sent = time.monotonic()
        try:
            answer = session.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
        except requests.RequestException as error:
            elapsed = time.monotonic() - sent
            return Response(index, sent - self._started, elapsed, NO_ANSWER, None, str(error))
        elapsed = time.monotonic() - sent
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        return Response(index, sent - self._started, elapsed, answer.status_code, parsed)
