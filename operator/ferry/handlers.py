"""kopf glue: settings and handler registration. Every decision lives in `ferry.reconcile`.

The ModelDeployment is reconciled (level-based, idempotent) on every watch event of it or of
one of its children or pods, and by a periodic resync of every object. Only watch-event
handlers and an index are registered: kopf's change handlers and timers would store a
finalizer and bookkeeping annotations on the user's object, and Ferry writes nothing there
but status (a GitOps repository must never see the operator's hand in its objects, and a
ModelDeployment must be deletable even when no operator runs). Children are removed by the
garbage collector through their owner references, so no finalizer is needed.
"""

from typing import Any, Final

import kopf

from ferry import API_GROUP, API_VERSION, PLURAL
from ferry.api import labels
from ferry.kube.reconciler import Reconciler
from ferry.settings import FerrySettings
from ferry.triggers import ReconcileRunner

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


def register(registry: kopf.OperatorRegistry, ferry: FerrySettings, reconciler: Reconciler) -> None:
    runner = ReconcileRunner(reconciler.reconcile, ferry.retry_backoff_seconds)

    kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Nothing is persisted on objects today; should a handler ever need it, its names are
        # under our group from day one (renaming them later re-runs every handler).
        settings.persistence.finalizer = f"{API_GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=API_GROUP, key="last-handled-configuration"
        )
        # Ferry posts its own Events on condition transitions.
        settings.posting.enabled = False
        # The CRD is installed before the operator starts (the chart's crds/): no need to
        # watch CRDs and namespaces, or to hold the RBAC for it.
        settings.scanning.disabled = True
        settings.watching.server_timeout = ferry.watch_timeout_seconds
        for resource in CHILD_RESOURCES:
            settings.watching.label_selectors[resource] = (
                f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
            )

    @kopf.index(*MODEL_DEPLOYMENTS, id="model_deployments", registry=registry)
    def index_model_deployment(namespace: str | None, name: str, **_: Any) -> dict[Any, None]:
        return {(namespace or "", name): None}

    @kopf.on.startup(registry=registry)
    async def start_resync(**kwargs: Any) -> None:  # async: the loop task needs the loop
        # kopf passes each index by its id; it fills as the watch lists the objects.
        index: kopf.Index[tuple[str, str], None] = kwargs["model_deployments"]
        runner.start_resync(ferry.resync_seconds, index)

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        runner.stop()

    @kopf.on.event(*MODEL_DEPLOYMENTS, id="reconcile", registry=registry)
    async def model_deployment_changed(
        type: str | None, namespace: str | None, name: str, **_: Any
    ) -> None:
        if type != "DELETED":  # the garbage collector removes the children
            await runner.request("event", namespace or "", name)

    async def child_changed(
        namespace: str | None, body: kopf.Body, resource: kopf.Resource, **_: Any
    ) -> None:
        owner = body.metadata.labels[labels.MODEL_DEPLOYMENT]
        await runner.request(resource.plural, namespace or "", owner)

    for child in CHILD_RESOURCES:
        kopf.on.event(
            *child,
            id="owner-wakeup",
            registry=registry,
            labels={labels.MODEL_DEPLOYMENT: kopf.PRESENT},
        )(child_changed)
