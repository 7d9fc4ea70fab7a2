"""The model registry (ML engineers): versions with their metrics, deploy and roll back, and
what Ray Serve runs now.

The same calls as the REST routes (gateway/models_api.py): storage/models_registry.py to
read, serve/control.py to deploy on Ray Serve (answering once the new version serves) and
to roll back. A refused deploy says why (`not_found`, `conflict`) and is audited too.
`serveStatus` is `stride models status` plus latency: Serve's application status and the
version it answers with, how long it took to answer just now, and the recent latencies of
the inference log (storage/inference_latency.py). The ML pages poll it, during a deploy too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any, NoReturn

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.internal.audit_trail import audited
from gateway.internal.paging import convert
from gateway.internal.permissions import MlEngineer, context_of, principal_of, refuse
from serve import control
from storage import inference_latency
from storage import models_registry as registry

log = logging.getLogger("stride.internal")
STATUS_TIMEOUT_S = 20.0
"""How long Ray Serve may take to say how it is (joining Ray the first time included)."""


@strawberry.type(description="A registered model version.")
class Model:
    id: uuid.UUID
    type: str
    version: str
    path: str
    checksum: str | None
    feature_schema: int | None
    metrics: JSON = strawberry.field(description="Its evaluation metrics, as registered.")
    status: str
    created_at: dt.datetime
    created_by: uuid.UUID | None
    deployed_at: dt.datetime | None
    deployed_by: uuid.UUID | None
    previous_id: uuid.UUID | None


@strawberry.type(description="One deploy or rollback of a model type.")
class Deployment:
    action: str
    from_version: str | None
    to_version: str
    actor: uuid.UUID | None
    at: dt.datetime


@strawberry.type(description="A model version with its type's deploy history.")
class ModelDetail:
    model: Model
    history: list[Deployment]


@strawberry.type(description="How fast one version answered its callers lately: the latency "
                                    "its callers logged (queueing and batching included).")
class ServeLatency:
    version: str
    answers: int = strawberry.field(description="Inferences logged in the window.")
    p50_ms: float
    p95_ms: float
    max_ms: float
    last_at: dt.datetime = strawberry.field(description="The newest of them.")


@strawberry.type(description="A model type's application on Ray Serve, as Serve reports it now.")
class ServeApp:
    type: str
    status: str = strawberry.field(
        description="Serve's application status (RUNNING, DEPLOYING, DEPLOY_FAILED, UNHEALTHY, "
                    "DELETING), NOT_STARTED, or UNREACHABLE when Ray did not answer.")
    registered: str | None = strawberry.field(description="The version the registry marks deployed.")
    serving: str | None = strawberry.field(description="The version the application answers with.")
    batching: bool | None
    answered_ms: float | None = strawberry.field(
        description="How long the application took to answer a status call just now.")
    latency: list[ServeLatency] = strawberry.field(
        description="Per version that answered in the window, busiest first.")


@strawberry.type(description="Every model type on Ray Serve at `checkedAt`.")
class ServeStatus:
    checked_at: dt.datetime
    window_minutes: int
    detail: str | None = strawberry.field(description="Why Ray did not answer, when it did not.")
    apps: list[ServeApp]


async def _apps_now(conn: Any, target: control.ServeTarget) -> tuple[list[control.AppStatus], str | None]:
    """Serve's view, or the registry's alone with UNREACHABLE and why, within STATUS_TIMEOUT_S
    (a status page must not hang or fail because Ray is away)."""
    try:
        return await asyncio.wait_for(control.status_with(conn, target), STATUS_TIMEOUT_S), None
    except Exception as exc:  # Ray down, restarting, or slow: reported, not raised
        log.warning("Ray Serve did not say how it is: %r", exc)
        why = (f"Ray Serve did not answer within {STATUS_TIMEOUT_S:.0f} s"
               if isinstance(exc, TimeoutError) else f"Ray Serve did not answer: {exc}"[:300])
        registered = {t: await registry.deployed(conn, t) for t in control.TYPES}
        return [control.AppStatus(type=t, registered=None if r is None else r.version,
                                  serving=None, status="UNREACHABLE")
                for t, r in registered.items()], why


def _refused(exc: Exception) -> NoReturn:
    message = str(exc)
    refuse("not_found" if message.startswith(("no ", "unknown model type")) else "conflict",
           message)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[MlEngineer],
                      description="Registered versions (of one type), newest first per type.")
    async def models(self, info: Info, type: str | None = None) -> list[Model]:
        async with context_of(info).state.pool.connection() as conn:
            rows = await registry.list_models(conn, type)
        return [convert(Model, r) for r in rows]

    @strawberry.field(permission_classes=[MlEngineer],
                      description="One version with its type's deploy history, or null.")
    async def model(self, info: Info, type: str, version: str) -> ModelDetail | None:
        async with context_of(info).state.pool.connection() as conn:
            record = await registry.get(conn, type, version)
            if record is None:
                return None
            history = await registry.history(conn, type)
        return ModelDetail(model=convert(Model, record),
                           history=[convert(Deployment, d) for d in history])

    @strawberry.field(permission_classes=[MlEngineer],
                      description="Each model type's application on Ray Serve now, with the "
                                  "latencies logged in the last `windowMinutes` (1 to 1440).")
    async def serve_status(self, info: Info, window_minutes: int = 15) -> ServeStatus:
        if not 1 <= window_minutes <= 1440:
            refuse("invalid", "`windowMinutes` must be between 1 and 1440")
        checked_at = dt.datetime.now(dt.UTC)
        since = checked_at - dt.timedelta(minutes=window_minutes)
        async with context_of(info).state.pool.connection() as conn:
            apps, detail = await _apps_now(conn, context_of(info).state.serve_target)
            latency = await inference_latency.recent(conn, [a.type for a in apps], since)
        return ServeStatus(checked_at=checked_at, window_minutes=window_minutes, detail=detail, apps=[
            ServeApp(type=a.type, status=a.status, registered=a.registered, serving=a.serving,
                     batching=a.batching, answered_ms=a.answered_ms,
                     latency=[ServeLatency(version=v.model_version, answers=v.answers,
                                           p50_ms=v.p50_ms, p95_ms=v.p95_ms, max_ms=v.max_ms,
                                           last_at=v.last_at)
                              for v in latency if v.model_type == a.type])
            for a in apps])


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[MlEngineer],
                         description="Serve this version on Ray Serve; answers once it serves.")
    async def deploy_model(self, info: Info, type: str, version: str) -> Model:
        target = context_of(info).state.serve_target
        async with audited(info, f"model:{type}/{version}", transaction=False) as conn:
            try:
                record = await control.deploy_with(conn, target, type, version,
                                                   principal_of(info).user_id)
            except (control.DeployError, registry.RegistryError) as exc:
                _refused(exc)
        return convert(Model, record)

    @strawberry.mutation(permission_classes=[MlEngineer],
                         description="Serve the previously deployed version again.")
    async def rollback_model(self, info: Info, type: str) -> Model:
        target = context_of(info).state.serve_target
        async with audited(info, f"model:{type}", transaction=False) as conn:
            try:
                record = await control.rollback_with(conn, target, type, principal_of(info).user_id)
            except (control.DeployError, registry.RegistryError) as exc:
                _refused(exc)
        return convert(Model, record)
