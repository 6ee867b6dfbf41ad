"""kopf glue: settings and handler registration. Every decision lives in `ferry.reconcile`.

The ModelDeployment is reconciled (level-based, idempotent) on create, resume, spec update,
on a resync timer, and whenever one of its children or pods changes. Handlers return
nothing: kopf would write return values into the status.
"""

import asyncio
import logging
import time
from typing import Any, Final

import kopf

from ferry import API_GROUP, API_VERSION, PLURAL, metrics
from ferry.api import labels
from ferry.kube.api import ApiError
from ferry.kube.reconciler import Reconciler
from ferry.settings import FerrySettings
from ferry.triggers import Coalescer

logger = logging.getLogger(__name__)

MODEL_DEPLOYMENTS: Final = (API_GROUP, API_VERSION, PLURAL)
# Watched only to wake their owner up; the API server filters them by label.
CHILD_RESOURCES: Final = (
    ("v1", "pods"),
    ("v1", "configmaps"),
    ("v1", "services"),
    ("apps", "v1", "deployments"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("policy", "v1", "poddisruptionbudgets"),
)
# A reconcile that keeps failing is given up by its handler after this many attempts; the
# resync timer still tries again, so nothing is retried in a tight loop forever.
MAX_RETRIES: Final = 10


def register(registry: kopf.OperatorRegistry, ferry: FerrySettings, reconciler: Reconciler) -> None:
    coalescer = Coalescer()

    async def reconcile(trigger: str, namespace: str, name: str) -> None:
        async def once() -> None:
            started = time.monotonic()
            try:
                await asyncio.to_thread(reconciler.reconcile, namespace, name)
            except ApiError as error:
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                raise kopf.TemporaryError(
                    f"API server: {error}", delay=ferry.retry_backoff_seconds
                ) from error
            except Exception:
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                raise
            else:
                metrics.RECONCILES.labels(trigger=trigger, result="ok").inc()
            finally:
                metrics.RECONCILE_DURATION.observe(time.monotonic() - started)

        await coalescer.run((namespace, name), once)

    kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Persistence names under our group from day one: renaming them later would make
        # kopf treat every existing object as new.
        settings.persistence.finalizer = f"{API_GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=API_GROUP, key="last-handled-configuration"
        )
        # Ferry posts its own Events on condition transitions; kopf's per-handler Events
        # would be one write per timer tick.
        settings.posting.enabled = False
        # The CRD is installed before the operator starts (the chart's crds/): no need to
        # watch CRDs and namespaces, or to hold the RBAC for it.
        settings.scanning.disabled = True
        settings.watching.server_timeout = ferry.watch_timeout_seconds
        for resource in CHILD_RESOURCES:
            settings.watching.label_selectors[resource] = (
                f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
            )

    # Handler ids are persisted in annotation keys (serving.ferry.dev/<id>): keep them stable.
    @kopf.on.resume(*MODEL_DEPLOYMENTS, id="reconcile", registry=registry, retries=MAX_RETRIES)
    @kopf.on.create(*MODEL_DEPLOYMENTS, id="reconcile", registry=registry, retries=MAX_RETRIES)
    @kopf.on.update(
        *MODEL_DEPLOYMENTS, field="spec", id="reconcile", registry=registry, retries=MAX_RETRIES
    )
    async def spec_changed(namespace: str | None, name: str, reason: str, **_: Any) -> None:
        await reconcile(reason, namespace or "", name)

    @kopf.timer(
        *MODEL_DEPLOYMENTS,
        id="resync",
        registry=registry,
        interval=ferry.resync_seconds,
        initial_delay=ferry.resync_seconds,
        backoff=ferry.retry_backoff_seconds,
    )
    async def resync(namespace: str | None, name: str, **_: Any) -> None:
        await reconcile("resync", namespace or "", name)

    async def child_changed(
        namespace: str | None, body: kopf.Body, resource: kopf.Resource, **_: Any
    ) -> None:
        owner = body.metadata.labels[labels.MODEL_DEPLOYMENT]
        try:
            await reconcile(resource.plural, namespace or "", owner)
        except kopf.TemporaryError as error:
            # Watch events are not retried; the owner's own handlers and the resync are.
            logger.warning(
                "%s/%s: reconcile after a %s change failed: %s",
                namespace,
                owner,
                resource.kind,
                error,
            )

    for child in CHILD_RESOURCES:
        kopf.on.event(
            *child,
            id="owner-wakeup",
            registry=registry,
            labels={labels.MODEL_DEPLOYMENT: kopf.PRESENT},
        )(child_changed)
