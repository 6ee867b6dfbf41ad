"""The inference front: an authenticating, counting reverse proxy to TorchServe.

Clients reach TorchServe's inference API only through here. The front checks the optional
client token, replaces it with TorchServe's current inference key, and counts each model's
outcomes, latency and requests in flight: TorchServe has no per-model error counter, so this
is where errors are counted. It is on the hot path: one pooled keep-alive session, bodies
passed through whole.
"""

import hmac
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ferry.runtime.keys import KeyFile

# Paths of TorchServe's inference API that the front forwards; everything else is 404.
FORWARDED_PREFIXES = ("/predictions/", "/explanations/", "/v2/models/")
TOKEN_REJECTED = b"Token Authorization failed"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "authorization",
    "host",
    "content-length",
}


@dataclass
class ModelCounts:
    total: int = 0
    errors4xx: int = 0
    errors5xx: int = 0
    latency_micros_sum: float = 0.0
    in_flight: int = 0
    # The integral of `in_flight` over time, as of its last change: a counter whose rate is
    # the mean concurrency of any window (Little's law), which a point sample cannot give.
    in_flight_seconds_at_change: float = 0.0
    in_flight_changed_at: float = 0.0

    def in_flight_seconds(self, now: float) -> float:
        """The integral of `in_flight` up to `now` (the counters' clock)."""
        elapsed = now - self.in_flight_changed_at
        return self.in_flight_seconds_at_change + self.in_flight * elapsed

    def add_in_flight(self, change: int, now: float) -> None:
        self.in_flight_seconds_at_change = self.in_flight_seconds(now)
        self.in_flight_changed_at = now
        self.in_flight += change


class FrontCounters:
    """Per-model outcomes of client requests, cumulative since the launcher started."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.models: defaultdict[str, ModelCounts] = defaultdict(ModelCounts)
        self.clock = clock

    @contextmanager
    def in_flight(self, model: str) -> Iterator[None]:
        """Count a request as in flight for the duration of the block, however it ends."""
        counts = self.models[model]
        counts.add_in_flight(1, self.clock())
        try:
            yield
        finally:
            counts.add_in_flight(-1, self.clock())

    def in_flight_seconds(self, model: str) -> float:
        counts = self.models.get(model)
        return counts.in_flight_seconds(self.clock()) if counts else 0.0

    def record(self, model: str, status: int, micros: float) -> None:
        counts = self.models[model]
        counts.total += 1
        counts.latency_micros_sum += micros
        if 400 <= status < 500:
            counts.errors4xx += 1
        elif status >= 500:
            counts.errors5xx += 1


class FrontCollector(Collector):
    """Exposes FrontCounters as Prometheus counters (`ferry_front_*`)."""

    def __init__(self, counters: FrontCounters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "ferry_front_requests", "Client requests by model and outcome", labels=["model", "code"]
        )
        latency = CounterMetricFamily(
            "ferry_front_latency_microseconds", "Sum of request latencies", labels=["model"]
        )
        in_flight = GaugeMetricFamily(
            "ferry_front_in_flight", "Client requests in flight now", labels=["model"]
        )
        in_flight_seconds = CounterMetricFamily(
            "ferry_front_in_flight_seconds",
            "Integral of in-flight requests over time; its rate is the mean concurrency",
            labels=["model"],
        )
        now = self.counters.clock()
        for model, counts in sorted(self.counters.models.items()):
            ok = counts.total - counts.errors4xx - counts.errors5xx
            for code, value in (("2xx", ok), ("4xx", counts.errors4xx), ("5xx", counts.errors5xx)):
                requests.add_metric([model, code], value)
            latency.add_metric([model], counts.latency_micros_sum)
            in_flight.add_metric([model], counts.in_flight)
            in_flight_seconds.add_metric([model], counts.in_flight_seconds(now))
        yield from (requests, latency, in_flight, in_flight_seconds)


def model_of(path: str) -> str | None:
    """The model a forwarded path addresses: /predictions/<m>[/<v>], /v2/models/<m>/..."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] in ("predictions", "explanations"):
        return parts[2]
    if len(parts) >= 4 and parts[1] == "v2" and parts[2] == "models":
        return parts[3]
    return None


class ClientToken:
    """The bearer token clients must present, re-read when the mounted Secret changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1
        self._token = b""

    def accepts(self, authorization: str | None) -> bool:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return False  # fail closed while the Secret is not mounted
        if mtime != self._mtime:
            self._token, self._mtime = self.path.read_bytes().strip(), mtime
        presented = (authorization or "").removeprefix("Bearer ").strip().encode()
        return bool(self._token) and hmac.compare_digest(presented, self._token)


def front_app(
    session: aiohttp.ClientSession,
    upstream: str,
    keys: KeyFile,
    counters: FrontCounters,
    client_token: ClientToken | None,
) -> web.Application:
    async def forward(request: web.Request, key_refreshed: bool = False) -> web.Response:
        keys_now = keys.refresh() if key_refreshed else keys.current()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if keys_now is not None:
            headers["Authorization"] = f"Bearer {keys_now.inference}"
        async with session.request(
            request.method, upstream + request.path_qs, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            if answer.status == 400 and TOKEN_REJECTED in body and not key_refreshed:
                return await forward(request, key_refreshed=True)  # the key just rotated
            passed = {"Content-Type", "X-Request-Id"}
            out = {k: v for k, v in answer.headers.items() if k.title() in passed}
            return web.Response(status=answer.status, body=body, headers=out)

    async def handle(request: web.Request) -> web.Response:
        model = model_of(request.path)
        if model is None or not request.path.startswith(FORWARDED_PREFIXES):
            return web.json_response({"error": "not found"}, status=404)
        if client_token is not None and not client_token.accepts(
            request.headers.get("Authorization")
        ):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        started = time.perf_counter()
        with counters.in_flight(model):
            try:
                response = await forward(request)
            except aiohttp.ClientError:
                response = web.json_response({"error": "model server unavailable"}, status=503)
        counters.record(model, response.status, (time.perf_counter() - started) * 1e6)
        return response

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
