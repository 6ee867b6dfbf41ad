"""The plugin's only API-server client: a thin layer over the official `kubernetes` client.

Every failure leaves as `CliError` with one line a person can act on (no such object, no
cluster, not allowed), never a traceback.
"""

import contextlib
import json
from collections.abc import Iterator
from typing import Any, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ferry import API_GROUP, API_VERSION, KIND, PLURAL
from ferry.api import labels
from ferry.cli.kubectl.errors import CliError
from ferry.cli.kubectl.revert import FIELD_MANAGER

TIMEOUT_SECONDS = 15
APPLY = "application/apply-patch+yaml"


class Kube:
    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        try:
            self.api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
            self.namespace = namespace or _context_namespace(kubeconfig, context)
        except (ConfigException, OSError) as error:
            raise CliError(f"cannot load the kubeconfig: {error}") from None
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def ref(self, name: str) -> str:
        return f"md/{name}"

    def get(self, name: str) -> dict[str, Any]:
        with self._errors(name):
            found = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, name,
                _request_timeout=TIMEOUT_SECONDS,
            )  # fmt: skip
        return cast(dict[str, Any], found)

    def pods(self, name: str) -> list[dict[str, Any]]:
        with self._errors(name):
            listed = self.core.list_namespaced_pod(
                self.namespace,
                label_selector=f"{labels.MODEL_DEPLOYMENT}={name}",
                _request_timeout=TIMEOUT_SECONDS,
            )
        return [self.api.sanitize_for_serialization(pod) for pod in listed.items]  # type: ignore[no-untyped-call]

    def events(self, md: dict[str, Any]) -> list[dict[str, Any]]:
        metadata = md["metadata"]
        with self._errors(metadata["name"]):
            listed = self.core.list_namespaced_event(
                self.namespace,
                field_selector=f"involvedObject.kind={KIND},involvedObject.uid={metadata['uid']}",
                _request_timeout=TIMEOUT_SECONDS,
            )
        return [self.api.sanitize_for_serialization(e) for e in listed.items]  # type: ignore[no-untyped-call]

    def merge_patch(self, name: str, patch: dict[str, Any]) -> None:
        """A JSON merge patch of the object as `kubectl-ferry` (annotations or spec.model)."""
        with self._errors(name):
            self.custom.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, name, patch,
                field_manager=FIELD_MANAGER, _request_timeout=TIMEOUT_SECONDS,
            )  # fmt: skip

    def force_apply(self, name: str, partial: dict[str, Any]) -> None:
        """Server-side apply of `partial` as `kubectl-ferry`, taking its fields from others."""
        body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND,
                "metadata": {"name": name, "namespace": self.namespace}, **partial}  # fmt: skip
        with self._errors(name):
            self.custom.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, name, body,
                field_manager=FIELD_MANAGER, force=True, _content_type=APPLY,
                _request_timeout=TIMEOUT_SECONDS,
            )  # fmt: skip

    @contextlib.contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        try:
            yield
        except ApiException as error:
            raise CliError(self._api_error(name, error)) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            host = self.api.configuration.host
            raise CliError(f"cannot reach the API server at {host}: {_reason(error)}") from None

    def _api_error(self, name: str, error: ApiException) -> str:
        if error.status == 404 and _status_reason(error) == "NotFound":
            return f"{self.ref(name)} not found in namespace {self.namespace}"
        message = _status_message(error) or f"{error.status} {error.reason}"
        if error.status == 403:
            return f"not allowed: {message}"
        if error.status == 401:
            return f"not authenticated: {message} (check the kubeconfig's credentials)"
        return message


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if chosen is None:
        raise ConfigException(f"context {context!r} is not in the kubeconfig")
    return str((chosen.get("context") or {}).get("namespace") or "default")


def _status(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _status_reason(error: ApiException) -> str:
    return str(_status(error).get("reason") or "")


def _status_message(error: ApiException) -> str:
    return str(_status(error).get("message") or "")


def _reason(error: BaseException) -> str:
    """urllib3 wraps the socket error a few levels deep; the innermost says what happened."""
    reason = getattr(error, "reason", None)
    return _reason(reason) if isinstance(reason, BaseException) else str(error)
