"""A small JSON-in, JSON-out client over the official `kubernetes` ApiClient.

Objects stay plain dicts end to end (the builders produce dicts; typed client models would
only convert them back and forth). Every request is counted in the operator's metrics.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import urllib3
from kubernetes import client

from ferry import metrics

FIELD_MANAGER: Final = "ferry"
APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE: Final = "application/merge-patch+json"
_GONE: Final = 404
_TRANSIENT: Final = {408, 409, 429}  # timeout, conflict, throttled: worth retrying as is
_FORBIDDEN: Final = 403
# RBAC's wording; a 403 for another reason (an exceeded quota) is the object's to fix.
_ACCESS_DENIED: Final = re.compile(r'forbidden: User "[^"]*" cannot ')


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str, name: str = "", subresource: str = "") -> str:
        """A namespaced path; namespace "" lists across all namespaces (or a cluster kind)."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = ["namespaces", namespace] if namespace else []
        parts = [prefix, *scope, self.plural, name, subresource]
        return "/".join(p for p in parts if p)


class ApiError(Exception):
    """The API server refused a request; `message` is its explanation."""

    def __init__(self, status: int, message: str, causes: tuple[str, ...] = ()) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.causes = causes  # the `type` of each cause in the Status details

    @property
    def transient(self) -> bool:
        """Worth retrying as is. The operator's own access denied is: an API server that has
        just started denies every request until its RBAC caches are filled, and a missing
        rule is nothing the user's object could fix (retried and logged, not reported)."""
        denied = self.status == _FORBIDDEN and _ACCESS_DENIED.search(self.message) is not None
        return self.status >= 500 or self.status in _TRANSIENT or denied

    @property
    def gone(self) -> bool:
        """The object, or the namespace it lives in, is being deleted."""
        return self.status == _GONE or "NamespaceTerminating" in self.causes


class KubeApi:
    def __init__(self, api_client: client.ApiClient, timeout_seconds: float) -> None:
        self._client = api_client
        self._timeout = timeout_seconds

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        metrics.API_READS.labels(verb="get", resource=resource.plural).inc()
        try:
            return self._request("GET", resource, resource.path(namespace, name))
        except ApiError as error:
            if error.status == _GONE:
                return None
            raise

    def list_objects(
        self, resource: Resource, namespace: str = "", query: list[tuple[str, str]] | None = None
    ) -> list[dict[str, Any]]:
        """Objects in `namespace` ("" for all namespaces, or a cluster-scoped kind)."""
        metrics.API_READS.labels(verb="list", resource=resource.plural).inc()
        result = self._request("GET", resource, resource.path(namespace), query=query)
        items: list[dict[str, Any]] = result.get("items") or []
        # List items carry no apiVersion/kind; the callers rely on both.
        for item in items:
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        return items

    def apply(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as `ferry`, taking over fields others changed (drift repair)."""
        metadata = obj["metadata"]
        return self._request(
            "PATCH",
            resource,
            resource.path(metadata["namespace"], metadata["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=obj,
            content_type=APPLY_CONTENT_TYPE,
        )

    def replace(self, resource: Resource, obj: dict[str, Any]) -> None:
        """Update (PUT) as `ferry`: for drift that apply cannot undo alone."""
        metadata = obj["metadata"]
        self._request(
            "PUT",
            resource,
            resource.path(metadata["namespace"], metadata["name"]),
            query=[("fieldManager", FIELD_MANAGER)],
            body=obj,
        )

    def patch_status(
        self, resource: Resource, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Returns the object as the API server answered (kind and all)."""
        return self._request(
            "PATCH",
            resource,
            resource.path(namespace, name, "status"),
            query=[("fieldManager", FIELD_MANAGER)],
            body={"status": status},
            content_type=MERGE_PATCH_CONTENT_TYPE,
        )

    def scale(self, resource: Resource, namespace: str, name: str, replicas: int) -> None:
        """Set replicas through the scale subresource, leaving the rest of the object alone."""
        self._request(
            "PATCH",
            resource,
            resource.path(namespace, name, "scale"),
            query=[("fieldManager", FIELD_MANAGER)],
            body={"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH_CONTENT_TYPE,
        )

    def create(self, resource: Resource, namespace: str, obj: dict[str, Any]) -> None:
        self._request("POST", resource, resource.path(namespace), body=obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> None:
        """Delete in the background (dependents are garbage-collected); gone is fine."""
        try:
            self._request(
                "DELETE",
                resource,
                resource.path(namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except ApiError as error:
            if error.status != _GONE:
                raise

    def _request(
        self,
        method: str,
        resource: Resource,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if method != "GET":
            metrics.API_WRITES.labels(verb=method.lower(), resource=resource.plural).inc()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            # Apply bodies are YAML to the client library: send them serialised, as JSON.
            body=json.dumps(body) if content_type == APPLY_CONTENT_TYPE else body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(*request, _request_timeout=self._timeout)
            data: bytes | None = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as error:
            metrics.API_ERRORS.labels(verb=method.lower(), resource=resource.plural).inc()
            raise ApiError(503, f"{method} {path}: {error}") from error
        if not 200 <= response.status < 300:
            metrics.API_ERRORS.labels(verb=method.lower(), resource=resource.plural).inc()
            raise _refusal(response.status, data, response.reason)
        decoded: dict[str, Any] = json.loads(data) if data else {}
        return decoded


def _refusal(status: int, data: bytes | None, fallback: str | None) -> ApiError:
    """An ApiError from the Status object the API server sends with an error."""
    try:
        body = json.loads(data or b"")
        message = body.get("message")
        causes = tuple(c.get("type", "") for c in (body.get("details") or {}).get("causes", []))
    except (ValueError, AttributeError):
        message, causes = None, ()
    return ApiError(status, str(message or fallback or "no explanation"), causes)
