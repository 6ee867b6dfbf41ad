"""The agent port: /livez, /readyz, /stats, /metrics (docs/pod-contract.md).

Gathers observations from TorchServe (ping, describe, metrics, golden request) and the
front's counters; every decision is made by the pure functions in `ferry.health`.
"""

import asyncio
import time

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from ferry import contract
from ferry.health import golden, readiness
from ferry.health.stats import PodStats, RequestStats, WorkerStats, backend_counters
from ferry.runtime.backend import Backend, BackendUnreachableError
from ferry.runtime.front import FrontCollector, FrontCounters
from ferry.torchserve.settings import ServeSettings

LOAD_POLL_SECONDS = 0.5


class Agent:
    def __init__(self, settings: ServeSettings, backend: Backend, counters: FrontCounters) -> None:
        self.settings = settings
        self.backend = backend
        self.counters = counters
        self.started = time.monotonic()
        self.load_seconds: float | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(FrontCollector(counters))

    async def readiness(self) -> readiness.Verdict:
        model = self.settings.model_name
        try:
            describe = await self.backend.describe(model)
        except BackendUnreachableError as err:
            return readiness.server_down(str(err))
        verdict = readiness.workers_verdict(describe, model_known=describe is not None)
        probe = self.settings.probe
        if not verdict.ready or probe is None:
            return verdict
        outcome = await self.backend.predict(model, probe.request, probe.timeout_seconds)
        mismatch = golden.mismatch(outcome.body, probe.expect) if outcome.status == 200 else None
        return readiness.probe_verdict(outcome, mismatch)

    async def stats(self) -> PodStats:
        model = self.settings.model_name
        describe, metrics = await asyncio.gather(
            self.backend.describe(model), self.backend.metrics_text()
        )
        workers = readiness.worker_counts(describe or [])
        entry = describe[0] if describe else {}
        backend = backend_counters(metrics, model)
        front = self.counters.models.get(model)
        return PodStats(
            model=model,
            version=self.settings.model_version,
            workers=WorkerStats(ready=workers.ready, total=workers.total),
            requests=RequestStats(
                total=front.total if front else 0,
                errors4xx=front.errors4xx if front else 0,
                errors5xx=front.errors5xx if front else 0,
            ),
            latency_micros_sum=front.latency_micros_sum if front else 0.0,
            queue_latency_micros_sum=backend.queue_latency_micros_sum,
            backend_requests=backend.requests,
            pending_requests=int(entry.get("jobQueueStatus", {}).get("pendingRequests", 0)),
            in_flight=front.in_flight if front else 0,
            in_flight_seconds_sum=self.counters.in_flight_seconds(model),
            load_seconds=self.load_seconds,
        )

    async def watch_first_load(self) -> None:
        """Record how long the model took to get its first READY worker (`loadSeconds`)."""
        while self.load_seconds is None:
            try:
                describe = await self.backend.describe(self.settings.model_name)
                if describe is not None and readiness.worker_counts(describe).ready:
                    self.load_seconds = round(time.monotonic() - self.started, 3)
            except BackendUnreachableError:
                pass
            await asyncio.sleep(LOAD_POLL_SECONDS)

    def app(self) -> web.Application:
        async def livez(_: web.Request) -> web.Response:
            alive = await self.backend.ping(timeout_s=2.0)
            return web.json_response({"alive": alive}, status=200 if alive else 503)

        async def readyz(_: web.Request) -> web.Response:
            verdict = await self.readiness()
            return web.json_response(verdict.as_json(), status=200 if verdict.ready else 503)

        async def stats(_: web.Request) -> web.Response:
            try:
                snapshot = await self.stats()
            except BackendUnreachableError as err:
                return web.json_response({"error": str(err)}, status=503)
            return web.json_response(snapshot.model_dump(mode="json", by_alias=True))

        async def metrics(_: web.Request) -> web.Response:
            try:
                torchserve = await self.backend.metrics_text()
            except BackendUnreachableError:
                torchserve = ""  # the front's counters are still worth scraping
            body = torchserve.encode() + generate_latest(self.registry)
            return web.Response(body=body, content_type="text/plain", charset="utf-8")

        app = web.Application()
        app.router.add_get(contract.LIVENESS_PATH, livez)
        app.router.add_get(contract.READINESS_PATH, readyz)
        app.router.add_get(contract.STATS_PATH, stats)
        app.router.add_get(contract.METRICS_PATH, metrics)
        return app
