"""`python -m ferry` / `ferry-operator`: run the operator.

Serves liveness on FERRY_HEALTH_PORT (/healthz) and Prometheus metrics on FERRY_METRICS_PORT.
With FERRY_LEADER_ELECTION, a replica runs the operator only while it holds the lease.
"""

import logging
import os
import socket
import sys
import uuid

import kopf
import prometheus_client
from kubernetes.config import ConfigException

from ferry import handlers, metrics
from ferry.build.network import OperatorIdentity
from ferry.health.agents import AgentClient
from ferry.kube.api import KubeApi
from ferry.kube.connect import api_client
from ferry.kube.leader import Leadership
from ferry.kube.reconciler import Reconciler
from ferry.settings import FerrySettings, SettingsError
from ferry.standby import standby_health

# A leader that cannot renew its lease stops at once: another replica may be writing.
_LOST_LEASE_EXIT = 3


def main() -> None:
    try:
        settings = FerrySettings.from_env()
        client = api_client()
        kube = KubeApi(client, settings.api_timeout_seconds)
    except (SettingsError, ConfigException) as error:
        sys.exit(f"ferry-operator: {error}")
    kopf.configure(verbose=False)
    # kopf logs every handler run at INFO; Ferry logs what it changes.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("ferry").setLevel(logging.INFO)
    registry = kopf.OperatorRegistry()
    reconciler = Reconciler(
        kube=kube,
        operator=OperatorIdentity(settings.namespace, settings.pod_labels),
        instance=socket.gethostname(),
        agents=AgentClient(),
        images=settings.images,
        autoscale_interval_seconds=settings.autoscale_interval_seconds,
    )
    handlers.register(registry, settings, reconciler)
    try:
        prometheus_client.start_http_server(settings.metrics_port)
    except OSError as error:
        sys.exit(f"ferry-operator: metrics port {settings.metrics_port}: {error.strerror}")
    leadership = None
    if settings.leader_election:
        # Unique per process (controller-runtime's choice): two replicas may share a host name.
        identity = f"{reconciler.instance}_{uuid.uuid4().hex[:8]}"
        leadership = Leadership(client, settings.namespace, settings.lease_name, identity)
        with standby_health(settings.health_port):
            leadership.wait_until_leading()
        leadership.keep_leading(lost=lambda: os._exit(_LOST_LEASE_EXIT))
    metrics.LEADER.set(1)
    try:
        kopf.run(
            registry=registry,
            clusterwide=True,
            standalone=True,  # no kopf peering: one replica, or the lease decides who runs
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
        )
    finally:
        if leadership is not None:
            leadership.release()


if __name__ == "__main__":
    main()
