"""`python -m ferry` / `ferry-operator`: run the operator.

Serves liveness on FERRY_HEALTH_PORT (/healthz) and Prometheus metrics on FERRY_METRICS_PORT.
"""

import logging
import socket
import sys

import kopf
import prometheus_client
from kubernetes.config import ConfigException

from ferry import handlers
from ferry.build.network import OperatorIdentity
from ferry.health.agents import AgentClient
from ferry.kube.api import KubeApi
from ferry.kube.connect import api_client
from ferry.kube.reconciler import Reconciler
from ferry.settings import FerrySettings, SettingsError


def main() -> None:
    try:
        settings = FerrySettings.from_env()
        kube = KubeApi(api_client(), settings.api_timeout_seconds)
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
    kopf.run(
        registry=registry,
        clusterwide=True,
        standalone=True,  # one replica, Recreate: no peering objects needed
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
    )


if __name__ == "__main__":
    main()
