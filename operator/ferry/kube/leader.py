"""A standby operator: only the holder of a coordination.k8s.io Lease runs (and writes).

The official client's leader election does the work (`kubernetes.leaderelection`, a
`LeaseLock`). A standby blocks in `wait_until_leading`; the leader renews the lease in a
thread and, should it ever fail to, stops the process at once (another replica may already
be writing), as controller-runtime does. The client has no way to give the lease up, so
`release` (a dozen lines) empties its holder on a clean shutdown: the standby then takes
over at its next try instead of after the lease expires.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    lease_seconds: int = 10  # a dead leader's lease is taken over after this long
    renew_deadline_seconds: int = 7
    retry_seconds: int = 2


DEFAULT_TIMING = Timing()


class Leadership:
    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        # The client's leader election is untyped; its calls are marked below.
        self._lock = LeaseLock(name, namespace, identity)  # type: ignore[no-untyped-call]
        self._lock.api_instance = client.CoordinationV1Api(api_client)
        self._leases = self._lock.api_instance
        self._namespace, self._name, self.identity = namespace, name, identity
        self._election = leaderelection.LeaderElection(  # type: ignore[no-untyped-call]
            electionconfig.Config(  # type: ignore[no-untyped-call]
                self._lock,
                lease_duration=timing.lease_seconds,
                renew_deadline=timing.renew_deadline_seconds,
                retry_period=timing.retry_seconds,
                onstarted_leading=lambda: None,  # the caller runs the operator itself
                onstopped_leading=lambda: None,
            )
        )

    def wait_until_leading(self) -> None:
        logger.info("standing by for lease %s/%s as %s", self._namespace, self._name, self.identity)
        self._election.acquire()  # type: ignore[no-untyped-call]
        logger.info("leading as %s", self.identity)

    def keep_leading(self, lost: Callable[[], None]) -> None:
        """Renew in the background; call `lost` if a renewal ever fails."""

        def renew() -> None:
            self._election.renew_loop()  # type: ignore[no-untyped-call]
            logger.error("lost lease %s/%s: stopping", self._namespace, self._name)
            lost()

        threading.Thread(target=renew, name="lease-renewal", daemon=True).start()

    def release(self) -> None:
        """Give the lease up if this process holds it (best effort: it expires anyway)."""
        try:
            lease = self._leases.read_namespaced_lease(self._name, self._namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            self._leases.replace_namespaced_lease(self._name, self._namespace, lease)
            logger.info("released lease %s/%s", self._namespace, self._name)
        except ApiException as error:
            logger.warning("could not release lease %s/%s: %s", self._namespace, self._name, error)
