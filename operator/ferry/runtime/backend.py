"""Thin async client of TorchServe's loopback APIs, with the keys from the key file."""

import json
from typing import Any

import aiohttp

from ferry.health.readiness import ProbeOutcome
from ferry.runtime.keys import KeyFile
from ferry.torchserve.config import Endpoints


class BackendUnreachableError(Exception):
    """TorchServe did not answer (not started yet, dead, or wedged)."""


class Backend:
    def __init__(self, session: aiohttp.ClientSession, urls: Endpoints, keys: KeyFile) -> None:
        self.session = session
        self.urls = urls
        self.keys = keys

    def _bearer(self, kind: str) -> dict[str, str]:
        keys = self.keys.current()
        if keys is None:
            return {}
        token = {"inference": keys.inference, "management": keys.management, "api": keys.api}
        return {"Authorization": f"Bearer {token[kind]}"}

    async def _get(self, url: str, kind: str, timeout_s: float) -> tuple[int, bytes]:
        try:
            async with self.session.get(
                url, headers=self._bearer(kind), timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise BackendUnreachableError(f"{url}: {err or type(err).__name__}") from None

    async def ping(self, timeout_s: float = 2.0) -> bool:
        try:
            status, _ = await self._get(f"{self.urls.inference}/ping", "inference", timeout_s)
        except BackendUnreachableError:
            return False
        return status == 200

    async def describe(self, model: str, timeout_s: float = 2.0) -> Any | None:
        """The describe answer, or None when TorchServe does not know the model (yet)."""
        status, body = await self._get(
            f"{self.urls.management}/models/{model}", "management", timeout_s
        )
        if status == 404:
            return None
        if status != 200:
            raise BackendUnreachableError(f"describe answered HTTP {status}: {body[:200]!r}")
        return json.loads(body)

    async def metrics_text(self, timeout_s: float = 2.0) -> str:
        status, body = await self._get(f"{self.urls.metrics}/metrics", "inference", timeout_s)
        if status != 200:
            raise BackendUnreachableError(f"metrics answered HTTP {status}")
        return body.decode()

    async def predict(self, model: str, request: Any, timeout_s: float) -> ProbeOutcome:
        url = f"{self.urls.inference}/predictions/{model}"
        try:
            async with self.session.post(
                url,
                json=request,
                headers=self._bearer("inference"),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                body = await response.read()
        except TimeoutError:
            return ProbeOutcome(timed_out=True)
        except aiohttp.ClientError as err:
            return ProbeOutcome(error=str(err) or type(err).__name__)
        try:
            return ProbeOutcome(status=response.status, body=json.loads(body))
        except ValueError:
            return ProbeOutcome(status=response.status, body=body.decode(errors="replace"))

    async def renew_key(self, kind: str) -> None:
        """Ask TorchServe for a new inference or management key (written to the key file)."""
        status, body = await self._get(f"{self.urls.management}/token?type={kind}", "api", 5.0)
        if status != 200:
            raise BackendUnreachableError(
                f"renewing the {kind} key answered HTTP {status}: {body[:200]!r}"
            )
        self.keys.refresh()
