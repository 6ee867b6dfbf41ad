"""kopf glue: settings and handler registration. Every decision lives in `ferry.reconcile`.

The ModelDeployment is reconciled (level-based, idempotent) on every watch event of it or of
one of its children or pods, and by a periodic resync of every object. Only watch-event
handlers and an index are registered: kopf's change handlers and timers would store a
finalizer and bookkeeping annotations on the user's object, and Ferry writes nothing there
but status (a GitOps repository must never see the operator's hand in its objects, and a
ModelDeployment must be deletable even when no operator runs). Children are removed by the
garbage collector through their owner references, so no finalizer is needed.
"""

from collections.abc import Callable
from typing import Any, Final

import kopf

from ferry import API_GROUP, API_VERSION, KIND, PLURAL
from ferry.api import labels
from ferry.kube import resources
from ferry.kube.api import Resource
from ferry.kube.cache import (
    AUTOSCALERS_INDEX,
    MODEL_DEPLOYMENTS_INDEX,
    PODS_INDEX,
    WorldCache,
    child_index,
    plain,
)
from ferry.kube.reconciler import Reconciler
from ferry.settings import FerrySettings
from ferry.triggers import ReconcileRunner

MODEL_DEPLOYMENTS: Final = (API_GROUP, API_VERSION, PLURAL)
OWNER: Final = labels.MODEL_DEPLOYMENT
# Watched (the API server filters them by label) to wake their owner up, and indexed so a
# reconcile reads them from memory. HTTPRoutes are not: their API may not be installed.
WATCHED: Final = (
    resources.PODS,
    resources.CONFIG_MAPS,
    resources.SERVICES,
    resources.DEPLOYMENTS,
    resources.NETWORK_POLICIES,
    resources.POD_DISRUPTION_BUDGETS,
)


class NoEssence(kopf.DiffBaseStorage):
    """No last-handled state: only change handlers compare against one, and Ferry has none.
    kopf's own storages deep-copy every watched body for it on every event (~7 % of the
    operator's CPU while 1,000 models are created); a change handler would need a real one."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


def _selector(resource: Resource) -> tuple[str, str] | tuple[str, str, str]:
    group, _, version = resource.api_version.rpartition("/")
    return (group, version, resource.plural) if group else (version, resource.plural)


CHILD_RESOURCES: Final = tuple(_selector(r) for r in WATCHED)


def _indexer(resource: Resource) -> Callable[..., dict[Any, Any]]:
    """Index an owned object under its owner, as a plain object of its kind."""

    def index_owned(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
        return {(namespace or "", labels[OWNER]): plain(body, resource.api_version, resource.kind)}

    return index_owned


def register(registry: kopf.OperatorRegistry, ferry: FerrySettings, reconciler: Reconciler) -> None:
    cache = WorldCache(r.plural for r in WATCHED if r is not resources.PODS)
    runner = ReconcileRunner(
        reconciler.reconcile, ferry.retry_backoff_seconds, cache.snapshot, cache.created
    )

    kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Nothing is persisted on objects today; should a handler ever need it, its names are
        # under our group from day one (renaming them later re-runs every handler).
        settings.persistence.finalizer = f"{API_GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = NoEssence()
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

    @kopf.index(*MODEL_DEPLOYMENTS, id=MODEL_DEPLOYMENTS_INDEX, registry=registry)
    def index_model_deployment(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[Any, bytes]:
        return {(namespace or "", name): plain(body, f"{API_GROUP}/{API_VERSION}", KIND)}

    for resource in WATCHED:
        index_id = PODS_INDEX if resource is resources.PODS else child_index(resource.plural)
        kopf.index(
            *_selector(resource), id=index_id, registry=registry, labels={OWNER: kopf.PRESENT}
        )(_indexer(resource))

    @kopf.index("autoscaling", "v2", "horizontalpodautoscalers", id=AUTOSCALERS_INDEX,
                registry=registry)  # fmt: skip
    def index_autoscaler(namespace: str | None, spec: kopf.Spec, body: kopf.Body, **_: Any) -> Any:
        target = spec.get("scaleTargetRef") or {}
        if target.get("kind") != KIND or not str(target.get("apiVersion", "")).startswith(
            f"{API_GROUP}/"
        ):
            return {}
        key = (namespace or "", target.get("name", ""))
        return {key: plain(body, "autoscaling/v2", "HorizontalPodAutoscaler")}

    @kopf.on.startup(registry=registry)
    async def start_resync(**kwargs: Any) -> None:  # async: the loop task needs the loop
        # kopf passes each index by its id; they fill as the watches list the objects.
        index: kopf.Index[tuple[str, str], bytes] = kwargs[MODEL_DEPLOYMENTS_INDEX]
        cache.bind(kwargs)
        runner.start_resync(ferry.resync_seconds, index, cache.listed)

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        runner.stop()

    @kopf.on.event(*MODEL_DEPLOYMENTS, id="reconcile", registry=registry)
    async def model_deployment_changed(
        type: str | None, namespace: str | None, name: str, **_: Any
    ) -> None:
        cache.listed.set()  # kopf runs no handler before every index is listed
        if type != "DELETED":  # the garbage collector removes the children
            await runner.request("event", namespace or "", name)

    async def child_changed(
        namespace: str | None, body: kopf.Body, resource: kopf.Resource, **_: Any
    ) -> None:
        cache.listed.set()
        owner = body.metadata.labels[OWNER]
        await runner.request(resource.plural, namespace or "", owner)

    for child in CHILD_RESOURCES:
        kopf.on.event(*child, id="owner-wakeup", registry=registry, labels={OWNER: kopf.PRESENT})(
            child_changed
        )
