"""The model registry (ML engineers): versions with their metrics, deploy and roll back.

The same calls as the REST routes (gateway/models_api.py): storage/models_registry.py to
read, serve/control.py to deploy on Ray Serve (answering once the new version serves) and
to roll back. A refused deploy says why (`not_found`, `conflict`) and is audited too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NoReturn

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.internal.audit_trail import audited
from gateway.internal.paging import convert
from gateway.internal.permissions import MlEngineer, context_of, principal_of, refuse
from serve import control
from storage import models_registry as registry


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
