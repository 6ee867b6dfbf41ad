"""Where canary analysis (and autoscaling) get the pods' counters from.

Today: each model pod's agent (`GET http://<pod IP>:8090/stats`), read concurrently with a
short timeout. The `CounterSource` protocol is the seam for another source (a Prometheus
query) later; consumers only ever see `PodStats` per pod.
"""

import json
import logging
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol

from pydantic import ValidationError

from ferry import contract
from ferry.health.stats import PodStats

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS: Final = 2.0
_PARALLEL: Final = 16


class CounterSource(Protocol):
    def read(self, pods: Mapping[str, str]) -> dict[str, PodStats]:
        """Counters of the pods (name -> IP) that answered; the others are left out."""


class AgentCounters:
    """Reads `/stats` from each pod's agent port (the NetworkPolicy admits the operator)."""

    def __init__(self, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds
        self._pool = ThreadPoolExecutor(max_workers=_PARALLEL, thread_name_prefix="stats")

    def read(self, pods: Mapping[str, str]) -> dict[str, PodStats]:
        names = list(pods)
        results = self._pool.map(lambda name: self._one(name, pods[name]), names)
        return {name: stats for name, stats in zip(names, results, strict=True) if stats}

    def _one(self, name: str, ip: str) -> PodStats | None:
        url = f"http://{ip}:{contract.AGENT_PORT}{contract.STATS_PATH}"
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                return PodStats.model_validate(json.loads(response.read()))
        except (OSError, ValueError, ValidationError) as error:
            # A pod that does not answer has no figures this interval; analysis says so.
            logger.info("pod %s: no counters from %s: %s", name, url, error)
            return None
