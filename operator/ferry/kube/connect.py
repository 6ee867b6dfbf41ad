"""Credentials: the pod's ServiceAccount in a cluster, else the kubeconfig (KUBECONFIG)."""

import os

from kubernetes import client, config


def api_client() -> client.ApiClient:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    kubeconfig_client: client.ApiClient = config.new_client_from_config()  # type: ignore[no-untyped-call]
    return kubeconfig_client
