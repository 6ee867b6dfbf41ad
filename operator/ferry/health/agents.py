"""What the operator asks each model pod's agent: its counters and its readiness verdict.

Today from the agent itself (`http://<pod IP>:8090/stats` and `/readyz`, which the
NetworkPolicy admits only from the operator), read concurrently with a short timeout. The
`PodAgents` protocol is the seam for another counter source (a Prometheus query) later;
consumers only ever see `PodStats` and `readiness.Verdict` per pod.
"""

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol, TypeVar

from pydantic import ValidationError

from ferry import contract
from ferry.health.readiness import Reason, Verdict
from ferry.health.stats import PodStats

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS: Final = 2.0
_PARALLEL: Final = 16
T = TypeVar("T")


class PodAgents(Protocol):
    def stats(self, pods: Mapping[str, str]) -> dict[str, PodStats]:
        """Counters of the pods (name -> IP) that answered; the others are left out."""

    def readiness(self, pods: Mapping[str, str]) -> dict[str, Verdict]:
        """Readiness verdicts of the pods (name -> IP) that answered."""


class AgentClient:
    """Reads each pod's agent port directly."""

    def __init__(self, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds
        self._pool = ThreadPoolExecutor(max_workers=_PARALLEL, thread_name_prefix="agents")

    def stats(self, pods: Mapping[str, str]) -> dict[str, PodStats]:
        return self._each(pods, contract.STATS_PATH, PodStats.model_validate)

    def readiness(self, pods: Mapping[str, str]) -> dict[str, Verdict]:
        return self._each(pods, contract.READINESS_PATH, _verdict)

    def _each(self, pods: Mapping[str, str], path: str, parse: Callable[[Any], T]) -> dict[str, T]:
        names = list(pods)
        results = self._pool.map(lambda name: self._one(name, pods[name], path, parse), names)
        return {name: result for name, result in zip(names, results, strict=True) if result}

    def _one(self, name: str, ip: str, path: str, parse: Callable[[Any], T]) -> T | None:
        url = f"http://{ip}:{contract.AGENT_PORT}{path}"
        try:
            try:
                with urllib.request.urlopen(url, timeout=self._timeout) as response:
                    return parse(json.loads(response.read()))
            except urllib.error.HTTPError as answer:  # /readyz says "not ready" with a 503
                return parse(json.loads(answer.read()))
        except (OSError, ValueError, ValidationError) as error:
            # A pod that does not answer has no figures; analysis and status say so.
            logger.info("pod %s: no answer from %s: %s", name, url, error)
            return None


def _verdict(document: Any) -> Verdict:
    if not isinstance(document, dict) or not isinstance(document.get("ready"), bool):
        raise ValueError(f"not a readiness verdict: {document!r}")
    if document["ready"]:
        return Verdict(True)
    return Verdict(False, Reason(str(document.get("reason"))), str(document.get("message") or ""))
