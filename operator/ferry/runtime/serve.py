"""`ferry-serve`: start and supervise TorchServe, serve the inference front and the agent.

Exits non-zero as soon as TorchServe dies, so the kubelet restarts the container; exits 0
after SIGTERM once TorchServe has stopped.
"""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from ferry import contract
from ferry.runtime.agent import Agent
from ferry.runtime.backend import Backend, BackendUnreachableError
from ferry.runtime.cpus import cpu_budget, threads_per_worker
from ferry.runtime.front import ClientToken, FrontCounters, front_app
from ferry.runtime.keys import KEY_FILE_NAME, KeyFile
from ferry.runtime.supervisor import LaunchError, LaunchSpec, TorchServeProcess
from ferry.torchserve.config import endpoints, parse_properties
from ferry.torchserve.settings import ServeSettings

log = logging.getLogger("ferry.serve")
KEY_CHECK_SECONDS = 30.0


def key_check_seconds(margin_seconds: float) -> float:
    """How often to look at the keys' expiry: at least twice within the renewal margin.

    Checking less often than the margin could find a key outside the margin at one check
    and already expired at the next.
    """
    return min(KEY_CHECK_SECONDS, margin_seconds / 2)


async def renew_keys(backend: Backend, margin_seconds: float) -> None:
    """Keep TorchServe's expiring keys fresh: it never renews them by itself."""
    while True:
        keys = backend.keys.current()
        for kind in keys.expiring(datetime.now(UTC), margin_seconds) if keys else []:
            try:
                await backend.renew_key(kind)
                log.info("renewed TorchServe's %s key", kind)
            except BackendUnreachableError as err:
                log.warning("could not renew the %s key: %s", kind, err)
        await asyncio.sleep(key_check_seconds(margin_seconds))


def torch_threads(properties: dict[str, str]) -> int:
    """Each worker's share of the pod's CPUs (`ferry.runtime.cpus`)."""
    workers = int(properties.get("default_workers_per_model", "1"))
    budget = cpu_budget()
    threads = threads_per_worker(workers, budget)
    log.info("CPU budget %.2f, %d worker(s): %d torch thread(s) each", budget, workers, threads)
    return threads


async def _serve_app(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run(settings: ServeSettings, properties: dict[str, str]) -> int:
    """Serve until SIGTERM (0) or until TorchServe dies (1). `properties`: config.properties."""
    work_dir = Path(settings.work_dir)
    torchserve = TorchServeProcess(
        LaunchSpec(
            ts_config=Path(settings.ts_config),
            model_store=Path(properties.get("model_store", contract.MODEL_STORE_DIR)),
            work_dir=work_dir,
            temp_dir=Path(settings.temp_dir),
            torch_threads=torch_threads(properties),
        )
    )
    await torchserve.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
    runners: list[web.AppRunner] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        keys = KeyFile(work_dir / KEY_FILE_NAME)
        urls = endpoints(properties)
        backend = Backend(session, urls, keys)
        counters = FrontCounters()
        agent = Agent(settings, backend, counters)
        token = (
            ClientToken(Path(settings.client_token_file)) if settings.client_token_file else None
        )
        front = front_app(session, urls.inference, keys, counters, token)
        try:
            runners.append(await _serve_app(front, settings.bind_host, settings.front_port))
            runners.append(await _serve_app(agent.app(), settings.bind_host, settings.agent_port))
            background = [
                asyncio.create_task(agent.watch_first_load()),
                asyncio.create_task(renew_keys(backend, settings.key_renewal_margin_seconds)),
            ]
            exited = asyncio.create_task(torchserve.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in [*background, stopping]:
                task.cancel()
        finally:
            for runner in runners:
                await runner.cleanup()
            await torchserve.stop()
    if stop.is_set():
        return 0
    log.error("TorchServe exited (code %s); stopping so the container restarts", exited.result())
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferry-serve", description=__doc__)
    default = f"{contract.CONFIG_DIR}/{contract.SERVE_CONFIG_KEY}"
    parser.add_argument("--config", type=Path, default=Path(default), help="ferry-serve.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = ServeSettings.model_validate_json(args.config.read_text())
        with contextlib.suppress(KeyboardInterrupt):
            properties = parse_properties(Path(settings.ts_config).read_text())
            return asyncio.run(run(settings, properties))
    except (OSError, ValueError, LaunchError) as err:
        print(f"ferry-serve: {err}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
